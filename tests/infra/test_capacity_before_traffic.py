"""Capacity before traffic: a record only takes traffic once its stack serves, autoscaled
counts survive a phase change, and `pulumi up` waits for services and instances to be healthy."""

import pytest

from infra.phases import build_phases
from tests.infra.pulumi_mocks import ACCOUNT, REGION, program_for

TG = f"arn:aws:lb:{REGION}:{ACCOUNT}"
SHIFTS = [p.name for p in build_phases() if p.is_shift]


@pytest.fixture(scope="module")
def run():
    return program_for("shift-25")


@pytest.mark.parametrize("service", ["fargate-api-service", "fargate-worker-service"])
def test_autoscaled_desired_counts_are_left_alone_and_updates_wait_for_steady_state(run, service):
    assert run.options[service].ignore_changes == ["desiredCount"]
    assert run.mocks.named(service).inputs["waitForSteadyState"] is True


def test_the_phase_sets_scaling_floors_instead_of_desired_counts():
    for name in ("parallel", "shift-5", "shift-50", "complete"):
        run = program_for(name)
        targets = {r.name: r.inputs for r in run.mocks.of_type("aws:appautoscaling/target:Target")}
        assert targets["fargate-scaling-api-target"]["minCapacity"] == run.exports["fargateApiCount"]
        assert targets["fargate-scaling-worker-target"]["minCapacity"] == run.exports["fargateWorkerCount"]
    assert program_for("shift-5").exports["fargateApiCount"] == 1
    assert program_for("complete").exports["fargateApiCount"] == 2


def test_the_api_service_is_behind_its_load_balancer_and_waits_for_the_listener(run):
    api = run.mocks.named("fargate-api-service").inputs
    assert api["loadBalancers"] == [{"targetGroupArn": f"{TG}:fargate-lb-tg", "containerName": "api",
                                     "containerPort": 8080}]
    assert run.depends_on("fargate-api-service") == ["fargate-lb-https"]
    https = run.mocks.named("fargate-lb-https").inputs
    assert https["defaultActions"][0]["targetGroupArn"] == f"{TG}:fargate-lb-tg"


def test_the_ec2_api_group_registers_with_its_target_group_and_waits_for_elb_health(run):
    group = run.mocks.named("ec2-api-asg").inputs
    assert group["targetGroupArns"] == [f"{TG}:ec2-lb-tg"]
    assert group["healthCheckType"] == "ELB"
    assert group["waitForElbCapacity"] == run.exports["ec2ApiCount"] == 2
    assert group["waitForCapacityTimeout"] == "15m"
    worker = run.mocks.named("ec2-worker-asg").inputs
    assert not worker.get("targetGroupArns") and "waitForElbCapacity" not in worker
    for refreshed in (group, worker):  # a new image that never passes its checks is rolled back
        preferences = refreshed["instanceRefresh"]["preferences"]
        assert preferences["autoRollback"] is True and preferences["minHealthyPercentage"] == 100


def test_instances_boot_the_ecs_optimized_ami_that_ships_docker(run):
    for role in ("api", "worker"):
        template = run.mocks.named(f"ec2-{role}-lt").inputs
        assert template["imageId"] == (
            "resolve:ssm:/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id")


@pytest.mark.parametrize("phase", SHIFTS + ["complete", "decommission"])
def test_a_record_with_traffic_waits_for_its_stack_to_serve(phase):
    run = program_for(phase)
    serving = {"fargate": {"fargate-api-service", "fargate-scaling-api-target"}, "ec2": {"ec2-api-asg"}}
    weighted = [r for r in run.mocks.of_type("aws:route53/record:Record") if r.inputs.get("setIdentifier")]
    assert weighted
    for record in weighted:
        stack = record.inputs["setIdentifier"]
        deps = set(run.depends_on(record.name))
        if record.inputs["weightedRoutingPolicies"][0]["weight"] > 0:
            assert serving[stack] <= deps, (record.name, deps)
        else:  # the falling record waits for the rising one
            assert any(d.endswith("-weighted") for d in deps), (record.name, deps)


def test_fargate_deployments_roll_back_on_the_stacks_alarms(run):
    names = {r.inputs["name"] for r in run.mocks.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    for service in ("fargate-api-service", "fargate-worker-service"):
        alarms = run.mocks.named(service).inputs["alarms"]
        assert alarms["enable"] is True and alarms["rollback"] is True
        assert set(alarms["alarmNames"]) == {"soundbite-dev-fargate-error-rate",
                                             "soundbite-dev-fargate-p95-latency"}
        assert set(alarms["alarmNames"]) <= names
