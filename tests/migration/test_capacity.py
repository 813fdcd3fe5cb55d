"""Capacity from the stack's config: the phase table, preflight in both directions, rollback.

Engines are built by the CLI's factory from a target that names a stack file, on the emulator."""

from __future__ import annotations

import pytest

from infra import phases
from migration.capacity import plan_disagreement, read_stack_file
from migration.edge_metrics import target_fields as edge_target_fields
from migration.exceptions import LeaseLostError, PlanError
from migration.executor import Executor, Status
from migration.factory import build_engine
from migration.plan import quick_plan
from migration.preflight import preflight
from migration.target import Target
from soundbite import spec
from tests.waiting import wait_for

from .conftest import EC2, FARGATE
from .fixtures_capacity import ROOT, stack_file_fixture  # noqa: F401 - the stack_file fixture
from .test_failsafe import Faulty
from .test_preflight import by_name


def test_the_prod_stack_file_says_four_and_four():
    config = read_stack_file(ROOT / "Pulumi.prod.yaml")
    assert config.ec2 == phases.Capacity(4, 4) and config.fargate == phases.Capacity(4, 4)
    assert config.shift_steps == (5, 25, 50, 100)
    assert phases.phase_named("shift-100", config.phase_table).fargate.api_count == 4


def test_a_plan_with_other_steps_than_the_config_is_named_wrong():
    config = read_stack_file(ROOT / "Pulumi.prod.yaml")
    assert plan_disagreement((5, 25, 50, 100), config) is None
    why = plan_disagreement((10, 50, 100), config)
    assert "[10, 50, 100]" in why and "[5, 25, 50, 100]" in why and "shiftSteps" in why


def test_an_invalid_stack_file_is_refused_with_its_key(stack_file):
    from migration.exceptions import ConfigError

    with pytest.raises(ConfigError, match="ec2ApiCount"):
        read_stack_file(stack_file(ec2ApiCount=0))


@pytest.fixture
def factory_engine(fresh_data_plane, boto_session, clock, zone, stacks):
    """An engine built by the factory (as every command builds it) from a target file's fields."""

    def build(path, plan=None, **fields):
        zone_id, record = zone
        target = Target(stack="dev", zone_id=zone_id, record_name=record,
                        environment=fresh_data_plane.environment,
                        ledger_table=fresh_data_plane.ledger_table, asg_name=stacks["asg"].name,
                        worker_asg_name=stacks["worker_asg"].name,
                        stack_file=str(path) if path else None,
                        **{**edge_target_fields(fresh_data_plane.environment), **fields})
        return build_engine(target, plan or quick_plan(), session=boto_session,
                            sleep=clock.sleep, now=clock.now)

    return build


def fargate_tasks(stacks, count: int) -> list:
    """The ECS service scaled to `count` tasks; its health, once the emulator counts them."""
    stacks["ecs"].update_service(cluster=stacks["cluster"], service="api", desiredCount=count)
    [health] = stacks[FARGATE]
    wait_for(lambda: health.running() == count, what=f"{count} tasks running")
    return [health]


def test_the_factory_reads_capacities_from_the_stack_file(factory_engine, stack_file):
    engine = factory_engine(stack_file(ec2ApiCount=3, fargateApiCount=6))
    assert engine.ec2_capacity.api == 3 and engine.fargate_capacity.api == 6
    assert phases.phase_named("shift-50", engine.phase_table).fargate.api_count == 3


def test_preflight_refuses_shift_100_on_two_tasks_when_the_config_says_four(
        factory_engine, stack_file, stacks):
    engine = factory_engine(stack_file())  # prod: 4 and 4
    engine.health = {EC2: stacks[EC2], FARGATE: fargate_tasks(stacks, 2)}
    engine.router.set_weights({EC2: 50, FARGATE: 50})
    checks = by_name(preflight(engine))
    assert not checks["capacity"].ok
    assert "Fargate runs 2 task(s), 100% needs 4" in checks["capacity"].detail
    assert "Pulumi.dev.yaml" in checks["capacity-config"].detail


def test_preflight_sizes_shift_to_for_the_share_it_names_not_the_next_step(
        factory_engine, stack_file, stacks):
    """From 5 %, the next step (25 %) needs 1 task, but `shift --to 100` needs 4."""
    engine = factory_engine(stack_file())
    engine.health = {EC2: stacks[EC2], FARGATE: fargate_tasks(stacks, 2)}
    engine.router.set_weights({EC2: 95, FARGATE: 5})
    assert by_name(preflight(engine))["capacity"].ok
    checks = by_name(preflight(engine, to_percent=100))
    assert not checks["capacity"].ok and "100% needs 4" in checks["capacity"].detail


def test_shift_to_a_share_no_phase_sizes_is_refused(factory_engine, stack_file):
    engine = factory_engine(stack_file())
    with pytest.raises(PlanError, match="shift --to 30: no step of the plan"):
        Executor(engine).advance(30)
    assert engine.router.current()[FARGATE] == 0
    assert not by_name(preflight(engine, to_percent=30))["next-step"].ok


def test_run_holds_before_a_step_fargate_has_too_few_tasks_for(factory_engine, stack_file, stacks, clock,
                                                             cloudwatch, fresh_data_plane):
    """Preflight passed for 5 %; one task carries 5 % and 25 %, but 50 % needs 2: the run
    holds at 25 % with the reason before it raises traffic, and goes on once the tasks run."""
    from .conftest import Traffic

    engine = factory_engine(stack_file())
    clock.listeners.append(Traffic(cloudwatch, engine.router, fresh_data_plane.environment))
    engine.health = {EC2: stacks[EC2], FARGATE: fargate_tasks(stacks, 1)}
    engine.ledger.commit("validated", state={"validated": True})
    result = Executor(engine).run()
    assert result.status is Status.HELD and result.step == "shift-50", result.reason
    assert "not raising Fargate to 50%: Fargate runs 1 task(s), 50% needs 2" in result.reason
    assert engine.router.current() == {EC2: 75, FARGATE: 25}, "the share stayed where it was judged"
    fargate_tasks(stacks, 4)
    assert Executor(engine).run().status is Status.COMPLETE


def test_run_raises_fargate_before_each_step_that_needs_more_tasks(factory_engine, stack_file, stacks,
                                                                   clock, cloudwatch, fresh_data_plane):
    """Capacity before traffic: with the ECS service named, a step whose phase needs more tasks
    than run raises the service first, waits for them, and only then moves the weights."""
    from .conftest import Traffic

    engine = factory_engine(stack_file())
    clock.listeners.append(Traffic(cloudwatch, engine.router, fresh_data_plane.environment))
    [ecs_health] = fargate_tasks(stacks, 1)
    engine.health = {EC2: stacks[EC2], FARGATE: [ecs_health]}
    engine.fargate_scaler = ecs_health
    moves = []
    engine.on_event = lambda e: moves.append((e["kind"], e.get("step"), ecs_health.running()))
    engine.ledger.commit("validated", state={"validated": True})
    assert Executor(engine).run().status is Status.COMPLETE
    assert ecs_health.running() == 4 and engine.router.current() == {EC2: 0, FARGATE: 100}
    shifted = {step: running for kind, step, running in moves if kind == "shift"}
    assert shifted["shift-50"] >= 2 and shifted["shift-100"] >= 4, shifted
    assert [step for kind, step, _ in moves if kind == "scale-out"] == ["shift-50", "shift-100"]


def test_a_named_ecs_service_that_is_not_there_holds_the_raise(factory_engine, stack_file, stacks):
    from migration.health import EcsServiceHealth

    engine = factory_engine(stack_file())
    missing = EcsServiceHealth(stacks["cluster"], "no-such-service", stacks["ecs"])
    engine.health, engine.fargate_scaler = {EC2: stacks[EC2], FARGATE: [missing]}, missing
    engine.ledger.commit("validated", state={"validated": True})
    result = Executor(engine).advance()
    assert result.status is Status.HELD and "no-such-service" in result.reason and "not found" in result.reason
    assert engine.router.current()[FARGATE] == 0


class NeverStarts:
    """An ECS service that takes the raise but never starts the tasks (no capacity in the
    region, an image that cannot be pulled)."""

    def __init__(self, health):
        self.health, self.service, self.cluster = health, health.service, health.cluster
        self.raised = []

    def ensure_at_least(self, count: int) -> bool:
        self.raised.append(count)
        return True


@pytest.fixture
def at_25_waiting_for_tasks(factory_engine, stack_file, stacks):
    """25 % on Fargate, promoted; 50 % needs 2 tasks, one runs, and the raise never starts one."""
    engine = factory_engine(stack_file())
    [ecs_health] = fargate_tasks(stacks, 1)
    engine.health = {EC2: stacks[EC2], FARGATE: [ecs_health]}
    engine.fargate_scaler = NeverStarts(ecs_health)
    engine.router.set_weights({EC2: 75, FARGATE: 25})
    engine.ledger.commit("seeded", state={"validated": True, "promoted": ["validate", "shift-5", "shift-25"],
                                          "weights": {EC2: 75, FARGATE: 25}})
    return engine


def when_scaling_out(engine, act) -> None:
    """`act()` once the run has raised the ECS service and waits for its tasks."""
    def on_event(event):
        if event["kind"] == "scale-out":
            act()
    engine.on_event = on_event


def test_tasks_that_never_come_hold_the_step_with_the_share_still_at_25(at_25_waiting_for_tasks):
    engine = at_25_waiting_for_tasks
    result = Executor(engine).advance()
    assert result.status is Status.HELD and "too few running after 600 s" in result.reason
    assert engine.fargate_scaler.raised == [2] and engine.router.current() == {EC2: 75, FARGATE: 25}


def test_a_critical_alarm_while_fargate_scales_out_rolls_the_share_back(
        at_25_waiting_for_tasks, cloudwatch, fresh_data_plane):
    """The 25 % already on Fargate stays judged while the run waits for tasks: its alarm fires
    and the run rolls back, it does not wait ten minutes on a failing canary."""
    engine = at_25_waiting_for_tasks
    name = f"soundbite-{fresh_data_plane.environment}-fargate-error-rate"

    def fire():
        cloudwatch.put_metric_alarm(AlarmName=name, MetricName="m", Namespace="X", Statistic="Sum",
                                    Period=60, EvaluationPeriods=1, Threshold=1,
                                    ComparisonOperator="GreaterThanThreshold")
        cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="test")

    when_scaling_out(engine, fire)
    result = Executor(engine).advance()
    assert result.status is Status.ROLLED_BACK and name in result.reason
    assert engine.router.current() == {EC2: 100, FARGATE: 0}


def test_an_operators_rollback_while_fargate_scales_out_is_final(at_25_waiting_for_tasks, factory_engine,
                                                                stack_file):
    engine = at_25_waiting_for_tasks
    operator = factory_engine(stack_file())
    when_scaling_out(engine, lambda: Executor(operator).rollback("clients see 5xx"))
    with pytest.raises(LeaseLostError):
        Executor(engine).advance()
    assert engine.router.current() == {EC2: 100, FARGATE: 0}
    assert engine.ledger.read_state()["status"] == "aborted"


def test_alarms_that_cannot_be_read_while_fargate_scales_out_roll_the_share_back(
        at_25_waiting_for_tasks, cloudwatch):
    """CloudWatch goes down while the run waits for tasks: the 25 % on Fargate is not left
    unjudged for the ten-minute wait; once its alarms have gone unread for as long as the
    soak lets checks in a row go unmeasured, it comes back to EC2."""
    engine = at_25_waiting_for_tasks
    down = {}
    engine.alarms._client = Faulty(cloudwatch, {"get_paginator", "describe_alarms"},
                                   code="ServiceUnavailable", failing=lambda: bool(down))
    when_scaling_out(engine, lambda: down.update(yes=True))
    started = engine.now()
    result = Executor(engine).advance()
    assert result.status is Status.ROLLED_BACK and "could not be read" in result.reason
    assert "ServiceUnavailable" in result.reason
    plan = engine.plan
    assert engine.now() - started < spec.FARGATE_SCALE_OUT_WAIT_SECONDS
    assert engine.now() - started >= plan.consecutive_error_limit * plan.analysis_interval_seconds
    assert engine.router.current() == {EC2: 100, FARGATE: 0}
    assert engine.alarms._client.failures > 0


def test_preflight_refuses_when_ec2_could_not_take_the_traffic_back(factory_engine, stack_file,
                                                                     stacks):
    engine = factory_engine(stack_file())  # EC2 should run 4; the group runs 2
    engine.health = {EC2: stacks[EC2], FARGATE: fargate_tasks(stacks, 4)}
    checks = by_name(preflight(engine))
    assert checks["capacity"].ok, checks["capacity"].detail
    assert not checks["ec2-capacity"].ok
    assert "EC2 runs 2 instance(s) in service, a rollback needs 4" in checks["ec2-capacity"].detail
    stacks["asg"].ensure_at_least(4)
    assert by_name(preflight(engine))["ec2-capacity"].ok


def test_a_plan_that_disagrees_with_the_phase_table_moves_nothing_but_rollback_works(
        factory_engine, stack_file, stacks):
    engine = factory_engine(stack_file(shiftSteps=[10, 50, 100]))
    engine.health = {EC2: stacks[EC2], FARGATE: fargate_tasks(stacks, 4)}
    assert not by_name(preflight(engine))["plan-steps"].ok
    before = engine.router.current()
    engine.ledger.commit("validated", state={"validated": True})
    with pytest.raises(PlanError, match="disagree with the stack's phase table"):
        Executor(engine).advance()
    assert engine.router.current() == before
    assert Executor(engine).rollback("test").status is Status.ROLLED_BACK


def test_a_broken_stack_file_fails_preflight_but_not_rollback(factory_engine, tmp_path):
    broken = tmp_path / "Pulumi.dev.yaml"
    broken.write_text("config: [")
    engine = factory_engine(broken)
    assert not by_name(preflight(engine))["capacity-config"].ok
    result = Executor(engine).rollback("test")
    assert result.status is Status.ROLLED_BACK
    assert any("configured capacity is unknown" in w for w in result.warnings), \
        "a default count is not passed off as the stack's"


def test_rollback_raises_ec2_to_the_configured_count_and_waits_for_it(factory_engine, stack_file,
                                                                       stacks):
    engine = factory_engine(stack_file())
    engine.router.set_weights({EC2: 75, FARGATE: 25})
    result = Executor(engine).rollback("test", wait_capacity=True)
    assert "raised EC2 API desired capacity to 4" in result.actions
    assert "raised EC2 worker desired capacity to 4" in result.actions
    assert result.actions[-1] == "EC2 has 4 of 4 API instances, 4 of 4 worker instances in service"
    assert stacks["asg"].running() == 4 and stacks["worker_asg"].running() == 4


def test_rollback_from_complete_raises_the_ec2_workers_from_zero(factory_engine, stack_file, stacks):
    """`complete` runs no EC2 workers: a rollback brings back the configured count, so jobs do
    not wait on Fargate's workers alone."""
    engine = factory_engine(stack_file())  # prod: 4 EC2 workers
    engine.router.set_weights({EC2: 0, FARGATE: 100})
    result = Executor(engine).rollback("test")
    assert "raised EC2 worker desired capacity to 4" in result.actions
    assert stacks["worker_asg"]._describe()["DesiredCapacity"] == 4


def test_an_unreachable_api_group_does_not_keep_the_workers_down(factory_engine, stack_file, stacks):
    engine = factory_engine(stack_file())
    engine.ec2_scaler._client = Faulty(engine.ec2_scaler._client, {"describe_auto_scaling_groups"})
    engine.router.set_weights({EC2: 0, FARGATE: 100})
    result = Executor(engine).rollback("test")
    assert engine.router.current()[FARGATE] == 0
    assert any("capacity could not be checked" in w for w in result.warnings)
    assert stacks["worker_asg"]._describe()["DesiredCapacity"] == 4
