"""Full runs of the engine against the emulator with synthetic metrics and a fake clock."""

from __future__ import annotations

import re

import pytest

from migration.exceptions import (
    ApprovalRequiredError,
    DriftError,
    LockHeldError,
    WeightsChangedError,
)
from migration.executor import Executor, Status
from migration.schemas import plan_from_mapping

from .conftest import EC2, FARGATE, Crash


def verdicts(engine, step=None):
    events = engine.ledger.events(500)
    return [e for e in events if e["kind"] == "verdict" and (step is None or e["step"] == step)]


def test_healthy_run_promotes_every_step_to_all_fargate(make_engine):
    engine = make_engine()
    result = Executor(engine).run()
    assert result.status is Status.COMPLETE
    assert engine.router.current() == {EC2: 0, FARGATE: 100}
    promoted = [e["step"] for e in engine.ledger.events(500) if e["kind"] == "promoted"]
    assert promoted == ["validate", "shift-5", "shift-25", "shift-50", "shift-100"]
    assert engine.ledger.holder() is None, "the lease is released at the end"
    last = verdicts(engine, "shift-100")[-1]["verdict"]
    assert last["outcome"] == "pass"
    assert last["evidence"]["thresholds"]["error_rate_limit"] == 0.01


def test_5xx_burst_at_25_percent_rolls_back_within_the_failure_limit(make_engine, traffic, clock):
    engine = make_engine()
    traffic().fault = lambda w: {FARGATE: 0.30} if w.get(FARGATE, 0) >= 25 else {}
    result = Executor(engine).run()
    assert result.status is Status.ROLLED_BACK
    assert engine.router.current() == {EC2: 100, FARGATE: 0}
    failed = [v for v in verdicts(engine, "shift-25") if v["verdict"]["outcome"] == "fail"]
    assert len(failed) == engine.plan.failure_limit
    assert "error rate" in failed[-1]["verdict"]["reason"]
    assert "> 1.0% (sequential test" in failed[-1]["verdict"]["reason"]
    shift_at = next(e["at"] for e in engine.ledger.events(500)
                    if e["kind"] == "shift" and e["step"] == "shift-25")
    rollback_at = next(e["at"] for e in engine.ledger.events(500) if e["kind"] == "rollback")
    plan = engine.plan
    # Rolled back inside the step's soak, and on the failure-limit-th failed check.
    assert rollback_at - shift_at <= plan.step_seconds(plan.step_named("shift-25"))
    assert failed[-1]["at"] - failed[0]["at"] == (plan.failure_limit - 1) * plan.analysis_interval_seconds
    # ...and at once: the rollback is recorded once Route 53 reports it INSYNC, before another look
    assert 0 <= rollback_at - failed[-1]["at"] < plan.analysis_interval_seconds * 2


def test_no_traffic_is_inconclusive_then_held(make_engine, traffic):
    engine = make_engine()
    traffic().rate = 0
    engine.ledger.commit("seeded", state=dict(validated=True))
    result = Executor(engine).advance()
    assert result.status is Status.HELD
    assert engine.router.current() == {EC2: 95, FARGATE: 5}, "held, not rolled back"
    outcomes = {v["verdict"]["outcome"] for v in verdicts(engine, "shift-5")}
    assert outcomes == {"inconclusive"}
    assert "need" in result.reason and "more canary requests" in result.reason


def test_latency_regression_steps_back_one_phase_and_holds(make_engine, traffic):
    engine = make_engine()
    engine.ledger.commit("seeded", state=dict(validated=True))
    executor = Executor(engine)
    assert executor.advance().status is Status.PROMOTED  # shift-5
    traffic().p95_ms[FARGATE] = 450.0
    result = executor.advance()  # shift-25 regresses
    assert result.status is Status.HELD
    assert engine.router.current() == {EC2: 95, FARGATE: 5}
    assert re.search(r"p95 4\d\d ms > 1.5 x baseline", result.reason), result.reason
    # the exit-4 advice, `advance` again, must not raise traffic back to the share that failed
    with pytest.raises(ApprovalRequiredError, match="shift-25 was stepped back .*approve --step shift-25"):
        executor.advance()
    assert executor.run().status is Status.AWAITING_APPROVAL
    with pytest.raises(ApprovalRequiredError, match="shift-25 was stepped back"):
        executor.advance(50)  # nor past it, to a higher share
    assert engine.router.current() == {EC2: 95, FARGATE: 5}
    traffic().p95_ms[FARGATE] = 85.0  # the cause found and fixed
    assert executor.approve("shift-25") == "shift-25"
    assert executor.advance().status is Status.PROMOTED
    assert engine.router.current() == {EC2: 75, FARGATE: 25}


def test_firing_alarm_rolls_back(make_engine, cloudwatch, fresh_data_plane):
    engine = make_engine()
    engine.ledger.commit("seeded", state=dict(validated=True))
    name = f"soundbite-{fresh_data_plane.environment}-fargate-5xx"
    cloudwatch.put_metric_alarm(AlarmName=name, MetricName="Target5XXCount", Namespace="X",
                                Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1,
                                ComparisonOperator="GreaterThanOrEqualToThreshold")
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="test")
    result = Executor(engine).advance()
    assert result.status is Status.ROLLED_BACK
    assert f"alarm {name} (fargate) is in ALARM" in result.reason


def test_validate_fails_when_the_canary_direct_name_errors(make_engine, direct_names):
    engine = make_engine()
    direct_names[FARGATE].status = 503
    result = Executor(engine).advance()
    assert result.status is Status.HELD
    assert "probes of the canary failed" in result.reason
    assert engine.router.current() == {EC2: 100, FARGATE: 0}


def test_two_runs_contend_for_the_lock(make_engine, clock):
    first = make_engine(owner="run-a")
    second = make_engine(owner="run-b")
    first.ledger.acquire()
    with pytest.raises(LockHeldError, match="run-a"):
        Executor(second).advance()
    assert second.router.current() == {EC2: 100, FARGATE: 0}
    clock.t += first.ledger.lease_seconds + 1
    second.ledger.acquire()  # the abandoned lease expired
    assert second.ledger.holder()["owner"] == "run-b"


def test_run_killed_mid_soak_resumes_from_live_weights(make_engine, clock):
    crashed = make_engine(owner="run-a")
    crashed.ledger.commit("seeded", state=dict(validated=True))
    clock.crash_after = clock.sleeps + 12  # inside the shift-25 soak of the quick plan
    with pytest.raises(Crash):
        Executor(crashed).run()
    clock.crash_after = None
    live = crashed.router.current()
    assert 0 < live[FARGATE] < 100
    assert crashed.ledger.holder()["owner"] == "run-a", "a crash leaves the lease behind"
    successor = make_engine(owner="run-b")
    with pytest.raises(LockHeldError):
        Executor(successor).resume()
    clock.t += successor.ledger.lease_seconds + 1
    result = Executor(successor).resume()
    assert result.status is Status.COMPLETE
    assert successor.router.current() == {EC2: 0, FARGATE: 100}
    resume = next(e for e in successor.ledger.events(500) if e["kind"] == "resume")
    assert resume["live"] == live


def test_hand_edited_weights_are_drift_and_refused(make_engine):
    engine = make_engine()
    engine.ledger.commit("seeded", state=dict(weights={EC2: 100, FARGATE: 0}))
    engine.router.set_weights({EC2: 50, FARGATE: 50})
    with pytest.raises(DriftError, match="changed Route 53 by hand"):
        Executor(engine).advance()


def by_hand_on(engine, kind: str, step: str, weights: dict[str, int]) -> None:
    """A person edits Route 53 by hand when the run emits `kind` for `step`."""
    done = []

    def on_event(event):
        if event["kind"] == kind and event.get("step") == step and not done:
            done.append(engine.direct_router.set_weights(weights))

    engine.on_event = on_event


def test_a_hand_edit_between_steps_is_held_for_a_person_not_rolled_back(make_engine):
    engine = make_engine()
    engine.ledger.commit("seeded", state=dict(promoted=["validate"]))
    by_hand_on(engine, "promoted", "shift-5", {EC2: 60, FARGATE: 40})
    result = Executor(engine).run()
    assert result.status is Status.HELD and "by hand" in result.reason and "40% on Fargate" in result.reason
    assert engine.router.current() == {EC2: 60, FARGATE: 40}, "a person's change is not rolled over"
    assert engine.ledger.read_state()["status"] == "held"
    with pytest.raises(DriftError, match="by hand"):  # still refused until a person acts
        Executor(make_engine()).advance()


def test_a_move_refused_because_route53_changed_by_hand_records_a_hold(make_engine):
    engine = make_engine()
    engine.ledger.commit("seeded", state=dict(promoted=["validate"]))
    by_hand_on(engine, "shift", "shift-25", {EC2: 50, FARGATE: 50})
    with pytest.raises(WeightsChangedError):
        Executor(engine).run()
    state = engine.ledger.read_state()
    assert state["status"] == "held" and state["pending"] is None and "someone else moved" in state["reason"]
    assert engine.router.current() == {EC2: 50, FARGATE: 50}


def test_resume_after_a_half_landed_shift_holds_with_the_reason(make_engine):
    engine = make_engine()
    engine.ledger.commit("seeded", state=dict(promoted=["validate"], status="soaking", pending={
        "step": "shift-25", "before": {EC2: 95, FARGATE: 5}, "after": {EC2: 75, FARGATE: 25}}))
    engine.direct_router.set_weights({EC2: 60, FARGATE: 40})
    result = Executor(engine).resume()
    assert result.status is Status.HELD and "neither before" in result.reason
    assert engine.router.current() == {EC2: 60, FARGATE: 40}


def test_dry_run_changes_nothing(make_engine):
    engine = make_engine()
    executor = Executor(engine)
    for result in (executor.advance(dry_run=True), executor.run(dry_run=True),
                   executor.rollback(dry_run=True)):
        assert result.status is Status.DRY_RUN
        assert result.actions
    assert engine.router.current() == {EC2: 100, FARGATE: 0}
    assert engine.ledger.events() == [] and engine.ledger.holder() is None


def test_approval_gate_stops_the_run_until_approved(make_engine):
    plan = plan_from_mapping({"name": "gated", "soak_seconds": 3, "ttl_wait_seconds": 1,
                              "metric_lag_seconds": 1, "analysis_interval_seconds": 1,
                              "steps": [50, {"percent": 100, "approval": True}],
                              "judge": {"smallest_regression": 0.2, "min_errors": 2}})
    engine = make_engine(plan=plan)
    executor = Executor(engine)
    result = executor.run()
    assert result.status is Status.AWAITING_APPROVAL and result.step == "shift-100"
    assert engine.router.current() == {EC2: 50, FARGATE: 50}
    assert executor.approve() == "shift-100"
    assert executor.run().status is Status.COMPLETE


def test_operator_rollback_is_idempotent(make_engine):
    engine = make_engine()
    engine.router.set_weights({EC2: 75, FARGATE: 25})
    first = Executor(engine).rollback("test")
    second = Executor(engine).rollback("again")
    assert first.status is second.status is Status.ROLLED_BACK
    assert engine.router.current() == {EC2: 100, FARGATE: 0}
    assert second.actions[0] == "weights already all on EC2"
    assert [e["kind"] for e in engine.ledger.events()].count("rollback") == 2


def test_a_run_whose_lease_is_taken_stops_moving_traffic(make_engine, clock):
    from migration.exceptions import LeaseLostError
    from migration.ledger import Ledger

    engine = make_engine(owner="run-a")
    engine.ledger.commit("seeded", state=dict(validated=True))
    operator = Ledger(engine.ledger.table, "dev", client=engine.ledger.client, owner="oncall",
                      now=clock.now)
    takeover_at = clock.t + 5  # during the shift-5 soak

    def take(start, end):
        if start < takeover_at <= end:
            operator.acquire_forcibly()

    clock.listeners.append(take)
    with pytest.raises(LeaseLostError):
        Executor(engine).run()
    assert engine.router.current() == {EC2: 95, FARGATE: 5}
    assert engine.ledger.holder()["owner"] == "oncall"


def test_both_lanes_failing_holds_the_canary_where_it_is(make_engine, traffic):
    """A shared dependency fails under both stacks at 5 %: the judge holds with the reason, and
    the share stays where it was; it never rolls back onto the failing baseline."""
    engine = make_engine()
    engine.ledger.commit("seeded", state=dict(validated=True))
    executor = Executor(engine)
    assert executor.advance().status is Status.PROMOTED  # shift-5
    traffic().error_rate.update({EC2: 0.05, FARGATE: 0.05})
    result = executor.advance()
    assert result.status is Status.HELD, result.reason
    assert "is over the 1.0% limit too" in result.reason
    assert engine.router.current()[FARGATE] > 0, "not rolled back onto the sick baseline"
    assert "rollback" not in [e["kind"] for e in engine.ledger.events(500)]
