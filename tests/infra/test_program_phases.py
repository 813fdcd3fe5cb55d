"""Each migration phase builds what the phase table says, and a phase change moves only
weights and capacities."""

import pytest

from infra import phases
from tests.infra.pulumi_mocks import program_for

TABLE = phases.build_phases()
RECORD = "aws:route53/record:Record"
ASG = "aws:autoscaling/group:Group"
SERVICE = "aws:ecs/service:Service"
TARGET = "aws:appautoscaling/target:Target"
API_NAME = "api.dev.example.com"


def _weighted(run) -> dict[str, int]:
    return {r.inputs["setIdentifier"]: int(r.inputs["weightedRoutingPolicies"][0]["weight"])
            for r in run.mocks.of_type(RECORD) if r.inputs.get("setIdentifier")}


@pytest.mark.parametrize("phase", TABLE, ids=lambda p: p.name)
def test_weighted_records_match_the_phase_and_never_sum_to_zero(phase):
    run = program_for(phase.name)
    weights = _weighted(run)
    assert weights == phase.weights
    assert sum(weights.values()) > 0
    for record in run.mocks.of_type(RECORD):
        if record.inputs.get("setIdentifier"):
            assert record.inputs["name"] == API_NAME
            [alias] = record.inputs["aliases"]
            assert alias["evaluateTargetHealth"] is True
            assert "ttl" not in record.inputs  # alias records take the target's TTL
    assert run.exports["weights"] == phase.weights
    assert run.exports["setIdentifiers"] == {s: s for s in phase.weights}


@pytest.mark.parametrize("phase", TABLE, ids=lambda p: p.name)
def test_stacks_exist_exactly_when_the_phase_says(phase):
    run = program_for(phase.name)
    assert bool(run.mocks.of_type(ASG)) == phase.ec2.exists
    assert bool(run.mocks.of_type(SERVICE)) == phase.fargate.exists
    direct = {r.inputs["name"] for r in run.mocks.of_type(RECORD) if r.name.endswith("-direct")}
    expected = {f"{s}.{API_NAME}" for s, shape in (("ec2", phase.ec2), ("fargate", phase.fargate)) if shape.exists}
    assert direct == expected


@pytest.mark.parametrize("phase", TABLE, ids=lambda p: p.name)
def test_desired_counts_and_floors_follow_the_phase_and_workers_never_reach_zero(phase):
    run = program_for(phase.name)
    workers = 0
    if phase.ec2.exists:
        api = run.mocks.named("ec2-api-asg").inputs
        worker = run.mocks.named("ec2-worker-asg").inputs
        assert (api["desiredCapacity"], api["minSize"]) == (phase.ec2.api_count, phase.ec2.min_capacity)
        assert worker["desiredCapacity"] == phase.ec2.worker_count
        assert api["maxSize"] >= api["desiredCapacity"] and worker["maxSize"] >= worker["desiredCapacity"]
        assert api["targetGroupArns"] and not worker["targetGroupArns"]
        workers += worker["desiredCapacity"]
    if phase.fargate.exists:
        api = run.mocks.named("fargate-api-service").inputs
        worker = run.mocks.named("fargate-worker-service").inputs
        assert api["desiredCount"] == phase.fargate.api_count
        assert worker["desiredCount"] == phase.fargate.worker_count
        floors = {r.name: r.inputs["minCapacity"] for r in run.mocks.of_type(TARGET)}
        assert floors["fargate-scaling-api-target"] == phase.fargate.min_capacity
        assert floors["fargate-scaling-worker-target"] == phase.fargate.worker_count
        workers += worker["desiredCount"]
    assert workers >= 1
    if phase.ec2.exists:
        assert run.exports["ec2ApiCount"] == phase.ec2.api_count


PHASE_DEPENDENT = {RECORD, ASG, SERVICE, TARGET}


def _planned(run, resource) -> dict:
    """The inputs a plan compares: those under `ignore_changes` never make a diff."""
    ignored = set(run.options[resource.name].ignore_changes) if resource.name in run.options else set()
    return {k: v for k, v in resource.inputs.items() if k not in ignored}


@pytest.mark.parametrize("before,after", [
    ("parallel", "validate"), ("validate", "shift-5"), ("shift-5", "shift-25"),
    ("shift-50", "shift-100"), ("shift-100", "complete"), ("shift-25", "validate"),
])
def test_a_phase_change_touches_only_weights_and_capacities(before, after):
    """`pulumi up` with a new phase: same resources, and only DNS/capacity inputs differ."""
    run_a, run_b = program_for(before), program_for(after)
    a = {r.name: r for r in run_a.mocks.resources}
    b = {r.name: r for r in run_b.mocks.resources}
    assert set(a) == set(b)
    changed = {name for name in a if _planned(run_a, a[name]) != _planned(run_b, b[name])}
    if phases.phase_named(before).weights != phases.phase_named(after).weights:
        assert any(b[name].typ == RECORD for name in changed)
    assert {b[name].typ for name in changed} <= PHASE_DEPENDENT, sorted(changed)


def test_entering_parallel_adds_fargate_and_decommission_removes_only_ec2():
    only = {r.name for r in program_for("ec2-only").mocks.resources}
    parallel = {r.name for r in program_for("parallel").mocks.resources}
    complete = {r.name for r in program_for("complete").mocks.resources}
    gone = {r.name for r in program_for("decommission").mocks.resources}
    assert only < parallel
    assert all(n.startswith(("fargate", "dns-fargate", "observability")) or "fargate" in n
               for n in parallel - only), sorted(parallel - only)
    assert gone < complete
    assert all("ec2" in n for n in complete - gone), sorted(complete - gone)
    data = {n for n in only if n.startswith("data-")}
    assert data and data <= gone


def test_unknown_phase_is_a_clear_config_error():
    from infra import config

    with pytest.raises(config.ConfigError, match="known phases"):
        program_for("shift-7")
