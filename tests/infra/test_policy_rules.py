"""Policy-pack rules, called directly: they pass the real program and catch each bad shape."""

import json
from types import SimpleNamespace

import pytest

from infra.policy import rules
from tests.infra.pulumi_mocks import program_for

TAGS = {"Project": "soundbite", "Environment": "dev", "ManagedBy": "pulumi"}


def res(resource_type, resource_name="r", props=None, **more):
    return SimpleNamespace(resource_type=resource_type, name=resource_name, props={**(props or {}), **more})


def violations(rule, args):
    found = []
    rule(args, lambda message, urn=None: found.append(message))
    return found


@pytest.mark.parametrize("phase", ["ec2-only", "shift-25", "complete", "decommission"])
def test_the_program_passes_every_rule(phase):
    resources = [res(r.typ, r.name, r.inputs) for r in program_for(phase).mocks.resources]
    for name, (rule, _) in rules.RESOURCE_RULES.items():
        for args in resources:
            assert violations(rule, args) == [], (name, args.name)
    for name, (rule, _) in rules.STACK_RULES.items():
        assert violations(rule, SimpleNamespace(resources=resources)) == [], name


def test_a_public_access_block_with_a_flag_off_is_reported():
    args = res(rules.PUBLIC_ACCESS_BLOCK, blockPublicAcls=True, blockPublicPolicy=False,
               ignorePublicAcls=True, restrictPublicBuckets=True)
    assert violations(rules.bucket_public_access_blocked, args) == [
        "public access block r leaves blockPublicPolicy off"]


def test_unencrypted_or_unguarded_buckets_are_reported():
    sse = res(rules.BUCKET_SSE, rules=[{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "none"}}])
    assert violations(rules.bucket_encrypted, sse)
    stack = SimpleNamespace(resources=[res(rules.BUCKET), res(rules.PUBLIC_ACCESS_BLOCK)])
    assert violations(rules.every_bucket_blocked_and_encrypted, stack) == [
        "1 bucket(s) but only 0 encryption configuration(s)"]


def test_a_table_without_pitr_is_reported():
    assert violations(rules.table_point_in_time_recovery, res(rules.TABLE, pointInTimeRecovery={"enabled": False}))
    assert violations(rules.table_point_in_time_recovery, res(rules.TABLE))


@pytest.mark.parametrize("action", ["*", "s3:*", "dynamodb:Get*", ["sqs:SendMessage", "sqs:*"]])
def test_wildcard_iam_actions_are_reported(action):
    doc = json.dumps({"Statement": [{"Effect": "Allow", "Action": action, "Resource": "arn:aws:s3:::b"}]})
    assert violations(rules.iam_no_wildcard_actions, res("aws:iam/rolePolicy:RolePolicy", policy=doc))


def test_named_actions_pass_and_not_action_is_reported():
    ok = json.dumps({"Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::b/*"}]})
    assert not violations(rules.iam_no_wildcard_actions, res("aws:iam/rolePolicy:RolePolicy", policy=ok))
    bad = json.dumps({"Statement": {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}})
    assert violations(rules.iam_no_wildcard_actions, res("aws:iam/policy:Policy", policy=bad))


def test_missing_tags_are_reported_only_on_taggable_resources():
    assert violations(rules.required_tags, res("aws:sqs/queue:Queue", tags={"Project": "soundbite"})) == [
        "r (aws:sqs/queue:Queue) lacks tag(s) Environment, ManagedBy"]
    assert not violations(rules.required_tags, res("aws:sqs/queue:Queue", tags=TAGS))
    asg_tags = [{"key": k, "value": v, "propagateAtLaunch": True} for k, v in TAGS.items()]
    assert not violations(rules.required_tags, res("aws:autoscaling/group:Group", tags=asg_tags))
    assert not violations(rules.required_tags, res("aws:route53/record:Record"))  # not taggable


def test_plain_http_listeners_and_https_without_policy_are_reported():
    forward = [{"type": "forward", "targetGroupArn": "tg"}]
    assert violations(rules.https_listeners, res(rules.LISTENER, protocol="HTTP", defaultActions=forward))
    assert violations(rules.https_listeners, res(rules.LISTENER, protocol="HTTPS", certificateArn="c",
                                                 defaultActions=forward))
    redirect = [{"type": "redirect", "redirect": {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"}}]
    assert not violations(rules.https_listeners, res(rules.LISTENER, protocol="HTTP", defaultActions=redirect))
    refuse = [{"type": "fixed-response", "fixedResponse": {"statusCode": "400"}}]
    assert not violations(rules.https_listeners, res(rules.LISTENER, protocol="HTTP", defaultActions=refuse))


def test_a_weighted_set_with_all_zero_weights_is_reported():
    def record(stack, weight):
        return res(rules.RECORD, stack, {"zoneId": "Z", "name": "api.example.com", "type": "A",
                                         "setIdentifier": stack, "weightedRoutingPolicies": [{"weight": weight}]})

    zero = SimpleNamespace(resources=[record("ec2", 0), record("fargate", 0)])
    assert violations(rules.weighted_records_not_all_zero, zero) == [
        "every weighted A record for api.example.com has weight 0 (Route 53 would split traffic evenly)"]
    ok = SimpleNamespace(resources=[record("ec2", 0), record("fargate", 100)])
    assert not violations(rules.weighted_records_not_all_zero, ok)
