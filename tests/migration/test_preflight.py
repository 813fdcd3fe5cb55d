"""Preflight against ECS, Auto Scaling and CloudWatch alarms on the emulator."""

from __future__ import annotations

from migration.health import EcsServiceHealth
from migration.preflight import preflight
from migration.synthetic import SoundbiteClient

from .conftest import EC2, FARGATE


def by_name(checks):
    return {c.name: c for c in checks}


def clients(direct_names) -> dict[str, SoundbiteClient]:
    return {lane: SoundbiteClient(lane, f"http://127.0.0.1:{s.server_address[1]}")
            for lane, s in direct_names.items()}


def test_healthy_stacks_pass_every_check(make_engine, stacks, direct_names):
    engine = make_engine(health={EC2: stacks[EC2], FARGATE: stacks[FARGATE]},  # the emulator's counts
                         direct_clients=clients(direct_names))
    checks = by_name(preflight(engine))
    assert all(c.ok for c in checks.values()), [c for c in checks.values() if not c.ok]
    assert "Fargate runs 2 task(s)" in checks["capacity"].detail
    assert checks["ec2-health"].detail == "healthy"


def test_fargate_without_tasks_and_a_firing_alarm_fail(make_engine, stacks, cloudwatch,
                                                      fresh_data_plane):
    stacks["ecs"].update_service(cluster=stacks["cluster"], service="api", desiredCount=0)
    assert EcsServiceHealth(stacks["cluster"], "api", stacks["ecs"]).running() == 0
    name = f"soundbite-{fresh_data_plane.environment}-dlq"
    cloudwatch.put_metric_alarm(AlarmName=name, MetricName="m", Namespace="X", Statistic="Sum",
                                Period=60, EvaluationPeriods=1, Threshold=1,
                                ComparisonOperator="GreaterThanOrEqualToThreshold")
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="test")
    engine = make_engine(health={EC2: stacks[EC2], FARGATE: stacks[FARGATE]})
    checks = by_name(preflight(engine))
    assert not checks["alarms"].ok and name in checks["alarms"].detail
    assert not checks["fargate-health"].ok
    assert "api" in checks["fargate-health"].detail
    assert not checks["capacity"].ok


def test_lock_held_by_another_run_fails(make_engine):
    make_engine(owner="someone-else").ledger.acquire()
    assert not by_name(preflight(make_engine()))["lock"].ok


def test_rollback_moves_the_weights_first_then_raises_a_reduced_ec2_side(make_engine, stacks):
    from migration.executor import Executor

    asg = stacks["asg"]
    asg._client.update_auto_scaling_group(AutoScalingGroupName=asg.name, DesiredCapacity=1, MinSize=1)
    engine = make_engine(ec2_scaler=asg)
    engine.router.set_weights({EC2: 50, FARGATE: 50})
    result = Executor(engine).rollback("test")
    assert result.actions[0] == "weights ec2 50 / fargate 50 -> ec2 100 / fargate 0"
    assert "raised EC2 API desired capacity to 2" in result.actions
    assert asg._describe()["DesiredCapacity"] == 2


def test_human_output_prints_weights_as_a_person_reads_them(make_engine):
    engine = make_engine()
    engine.ledger.commit("test", state={"weights": {EC2: 50, FARGATE: 50}})
    checks = by_name(preflight(engine))
    assert checks["live-weights"].detail == "live weights ec2 100 / fargate 0"
    assert checks["drift"].detail == "live ec2 100 / fargate 0 but this tool last set ec2 50 / fargate 50"
    assert checks["next-step"].detail == "next: shift-5 -> ec2 95 / fargate 5"
    assert not [c for c in checks.values() if "{" in c.detail]


def test_validate_and_a_declared_top_up_without_clients_fail_naming_the_fix(make_engine):
    """No synthetic_auth: validate would fall back to an operator-side probe and the quick
    plan's top-up would silently do nothing; preflight refuses both."""
    checks = by_name(preflight(make_engine()))  # the quick plan: validate, synthetic top-up
    assert not checks["validate-clients"].ok
    assert "no transaction client for ec2, fargate" in checks["validate-clients"].detail
    assert "migrate init --force" in checks["validate-clients"].detail
    assert not checks["synthetic-top-up"].ok and "declares `synthetic`" in checks["synthetic-top-up"].detail


def test_a_validated_migration_needs_no_validate_clients(make_engine, direct_names):
    engine = make_engine(direct_clients={FARGATE: clients(direct_names)[FARGATE]})
    engine.ledger.commit("test", state={"promoted": ["validate"]})
    checks = by_name(preflight(engine))
    assert "validate-clients" not in checks and checks["synthetic-top-up"].ok
