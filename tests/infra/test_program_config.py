"""Stack config parses into one frozen object, and bad values fail with a message naming the key."""

import dataclasses

import pytest

from infra import config
from infra.components.weighted_dns import StackTarget, check_weights
from soundbite import spec
from tests.infra.pulumi_mocks import BASE_CONFIG, REGION


def parse(**overrides):
    return config.from_values({**BASE_CONFIG, **overrides}, REGION)


def test_defaults_come_from_the_spec_and_the_phase_table():
    cfg = parse(migrationPhase="shift-50")
    assert cfg.shift_steps == spec.DEFAULT_SHIFT_STEPS
    assert cfg.phase.weights == {"ec2": 50, "fargate": 50}
    assert cfg.rate_limit == spec.RATE_LIMIT_DEFAULT
    assert cfg.scheduled_redrive is True
    assert cfg.web_origins == ("https://api.dev.example.com",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.environment = "prod"


def test_custom_steps_and_capacities_shape_the_phase():
    cfg = parse(migrationPhase="shift-10", shiftSteps="[10, 100]", fargateApiCount="4", fargateWorkerCount="6")
    assert cfg.phase.fargate.api_count == 1 and cfg.phase.fargate.worker_count == 1
    cfg = parse(migrationPhase="complete", shiftSteps="[10, 100]", fargateApiCount="4", fargateWorkerCount="6")
    assert (cfg.phase.fargate.api_count, cfg.phase.fargate.worker_count) == (4, 6)


@pytest.mark.parametrize("overrides,message", [
    ({"migrationPhase": "shift-7"}, "known phases"),
    ({"shiftSteps": "[50, 25]"}, "rise strictly"),
    ({"shiftSteps": "not json"}, "shiftSteps must be JSON"),
    ({"ec2ApiCount": "0"}, "ec2ApiCount"),
    ({"redis": "yes"}, "redis must be JSON"),
    ({"environment": ""}, "soundbite:environment"),
    ({"imageTag": ""}, "imageTag"),
    ({"vpcId": "vpc-1"}, "existing VPC"),
    ({"environment": "prod", "scheduledRedrive": "true"}, "manual"),
])
def test_bad_values_name_the_key(overrides, message):
    with pytest.raises(config.ConfigError, match=message):
        parse(**overrides)


def test_prod_has_no_scheduled_redrive_by_default_and_region_is_required():
    assert parse(environment="prod").scheduled_redrive is False
    with pytest.raises(config.ConfigError, match="aws:region"):
        config.from_values(BASE_CONFIG, None)


def test_an_existing_vpc_needs_two_zones_of_subnets():
    cfg = parse(vpcId="vpc-1", publicSubnetIds='["a", "b"]', privateSubnetIds='["c", "d"]')
    assert cfg.existing_network.private_subnet_ids == ("c", "d")


def test_weighted_records_that_would_all_be_zero_are_refused():
    with pytest.raises(ValueError, match="weight 0"):
        check_weights((StackTarget("ec2", 0, "a", "z"), StackTarget("fargate", 0, "b", "z")))
    with pytest.raises(ValueError, match="would not resolve"):
        check_weights((StackTarget("ec2", None, "a", "z"),))
    check_weights((StackTarget("ec2", 0, "a", "z"), StackTarget("fargate", 100, "b", "z")))


def test_existing_vpc_is_used_instead_of_a_new_one():
    from tests.infra.pulumi_mocks import program_for

    run = program_for("shift-5", vpcId="vpc-1", publicSubnetIds='["p1", "p2"]', privateSubnetIds='["s1", "s2"]')
    assert not run.mocks.of_type("aws:ec2/vpc:Vpc")
    assert run.mocks.named("fargate-api-service").inputs["networkConfiguration"]["subnets"] == ["s1", "s2"]


def _stack_file_values(path):
    import json
    from pathlib import Path

    import yaml

    raw = yaml.safe_load((Path(__file__).resolve().parents[2] / path).read_text())["config"]
    region = raw.pop("aws:region")
    # Pulumi hands structured values to the program as JSON text, scalars as strings.
    values = {k.removeprefix("soundbite:"): v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()}
    return values, region


@pytest.mark.parametrize("path", ["Pulumi.dev.yaml", "Pulumi.prod.yaml"])
def test_example_stack_files_parse_and_use_only_known_keys(path):
    values, region = _stack_file_values(path)
    assert set(values) <= set(config.KEYS)
    cfg = config.from_values(values, region)
    assert cfg.phase.name == "ec2-only"
    assert cfg.scheduled_redrive is (cfg.environment != "prod")


@pytest.mark.parametrize(("raw", "expected"), [
    ("oncall@example.com", ("email", "oncall@example.com")),
    ("https://hooks.example.com/alarms", ("https", "https://hooks.example.com/alarms")),
])
def test_an_alarm_subscriber_subscribes_the_topic(raw, expected):
    from tests.infra.pulumi_mocks import program_for

    assert config.from_values({**BASE_CONFIG, "alarmSubscriber": raw}, REGION).alarm_subscriber == expected
    run = program_for("ec2-only", alarmSubscriber=raw)
    [sub] = run.mocks.of_type("aws:sns/topicSubscription:TopicSubscription")
    assert (sub.inputs["protocol"], sub.inputs["endpoint"]) == expected
    assert sub.inputs["topic"].endswith("observability-alarms")
    assert not program_for("ec2-only").mocks.of_type("aws:sns/topicSubscription:TopicSubscription")


@pytest.mark.parametrize("raw", ["not an address", "http://plain.example.com", "ops@localhost",
                                 "arn:aws:sqs:us-east-1:123456789012:pager"])
def test_a_bad_alarm_subscriber_is_refused(raw):
    with pytest.raises(config.ConfigError, match="alarmSubscriber"):
        config.from_values({**BASE_CONFIG, "alarmSubscriber": raw}, REGION)


def test_the_bucket_name_is_unique_per_account_and_region():
    from infra.components.data_plane import bucket_name
    from soundbite import spec
    from tests.infra.pulumi_mocks import program_for

    [bucket] = program_for("ec2-only").mocks.of_type("aws:s3/bucket:Bucket")
    assert bucket.inputs["bucket"] == "soundbite-dev-audio-123456789012-us-east-1"
    with pytest.raises(ValueError, match="63"):
        bucket_name(spec.ResourceNames("a-very-long-environment-name"), "123456789012", "ap-southeast-2")
