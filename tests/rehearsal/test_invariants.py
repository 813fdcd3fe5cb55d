"""The rehearsal's invariants on recorded runs: each one fails on the run that breaks it, and a
check the run cannot make says `not checked`."""

from migration.rehearsal import invariants as inv
from migration.rehearsal.faults import parse_fault
from migration.rehearsal.settle import SoundbiteTally
from migration.rehearsal.supervisor import KILLED

T0 = 1000.0


def always_alive(_start, limit):
    return limit


def dead_after(moment):
    return lambda start, limit: max(start, min(limit, moment))


def verdict(at, outcome="pass", step="shift-25"):
    return {"kind": "verdict", "at": T0 + at, "step": step, "verdict": {"outcome": outcome}}


def event(kind, at, **data):
    return {"kind": kind, "at": T0 + at, **data}


SOAK = [event("shift", 1, step="shift-25"), event("shifted", 1.5)] + [verdict(t) for t in range(2, 12)]


def test_a_judged_soak_covers_its_traffic():
    log = [(T0, 0), (T0 + 1.2, 25), (T0 + 12, 0)]
    check = inv.traffic_never_unjudged(log, [*SOAK, event("rollback", 12)], always_alive, T0 + 20)
    assert check.status == inv.HELD


def test_traffic_after_the_engine_died_is_unjudged():
    log = [(T0, 0), (T0 + 1.2, 25)]
    check = inv.traffic_never_unjudged(log, SOAK, dead_after(T0 + 5), T0 + 40)
    assert check.status == inv.FAILED and "unjudged" in check.detail


def test_traffic_moved_without_a_ledger_event_is_unjudged():
    log = [(T0, 0), (T0 + 1, 50), (T0 + 30, 0)]
    assert inv.traffic_never_unjudged(log, [], always_alive, T0 + 40).status == inv.FAILED


def test_a_hold_needs_a_stated_reason():
    log = [(T0, 0), (T0 + 1.2, 25)]
    silent = [*SOAK, event("held", 12)]
    stated = [*SOAK, event("held", 12, reason="2 checks inconclusive")]
    assert inv.traffic_never_unjudged(log, silent, always_alive, T0 + 60).status == inv.FAILED
    assert inv.traffic_never_unjudged(log, stated, always_alive, T0 + 60).status == inv.HELD


def test_a_promoted_step_left_with_no_engine_is_unjudged_but_a_complete_plan_is_not():
    """The issue's three covers: a live soak, a hold with its reason, an approval wait. A run
    that stopped after a promotion (an error between steps) leaves Fargate unjudged; the plan
    complete (all traffic on Fargate) is the migration's end, not a gap."""
    log = [(T0, 0), (T0 + 1.2, 25)]
    events = [*SOAK, event("promoted", 12, step="shift-25")]
    assert inv.traffic_never_unjudged(log, events, dead_after(T0 + 12.5), T0 + 300).status == inv.FAILED
    done = [(T0, 0), (T0 + 1.2, 100)]
    finished = [*SOAK, event("promoted", 12, step="shift-100"), event("complete", 12.1)]
    assert inv.traffic_never_unjudged(done, finished, dead_after(T0 + 12.5), T0 + 300).status == inv.HELD


def test_no_fargate_traffic_is_not_checked():
    assert inv.traffic_never_unjudged([(T0, 0)], [], always_alive, T0 + 9).status == inv.NOT_CHECKED


OPERATOR = (parse_fault("operator:rollback@25"),)
STARTED = {"operator:rollback@25": T0 + 5}


def test_an_operator_rollback_that_stays_is_final():
    log = [(T0, 0), (T0 + 1, 25), (T0 + 5.5, 0)]
    events = [event("rollback", 5.6, runId="oncall")]
    assert inv.operator_rollback_final(OPERATOR, STARTED, log, events, T0 + 30).status == inv.HELD


def test_traffic_back_on_fargate_after_the_operator_is_a_broken_rollback():
    log = [(T0, 0), (T0 + 1, 25), (T0 + 5.5, 0), (T0 + 9, 50)]
    check = inv.operator_rollback_final(OPERATOR, STARTED, log, [], T0 + 30)
    assert check.status == inv.FAILED and "Fargate back at 50%" in check.detail


def test_a_fenced_out_run_that_writes_after_the_rollback_breaks_it():
    log = [(T0, 0), (T0 + 1, 25), (T0 + 5.5, 0)]
    events = [event("rollback", 5.6, runId="oncall"), event("verdict", 6, runId="run-a")]
    check = inv.operator_rollback_final(OPERATOR, STARTED, log, events, T0 + 30)
    assert check.status == inv.FAILED and "wrote verdict" in check.detail


def test_operator_finality_without_an_operator_is_not_checked():
    assert inv.operator_rollback_final((), {}, [(T0, 0)], [], T0).status == inv.NOT_CHECKED


ERRORS = (parse_fault("fargate:errors=0.3@5"),)


def test_a_rollback_at_the_failure_limit_is_in_time():
    events = [verdict(2), verdict(3, "fail"), verdict(4, "fail")]
    check = inv.rolled_back_in_time(ERRORS, T0 + 1, T0 + 4.5, events, failure_limit=2, error_limit=4)
    assert check.status == inv.HELD


def test_checks_past_the_failure_limit_are_a_late_rollback():
    events = [verdict(2, "fail"), verdict(3, "fail"), verdict(4, "fail"), verdict(5)]
    check = inv.rolled_back_in_time(ERRORS, T0 + 1, T0 + 6, events, failure_limit=2, error_limit=4)
    assert check.status == inv.FAILED and "2 more checks" in check.detail


def test_a_fault_that_should_roll_back_but_did_not_fails():
    check = inv.rolled_back_in_time(ERRORS, T0 + 1, None, [verdict(2)], failure_limit=2, error_limit=4)
    assert check.status == inv.FAILED


def test_a_fault_that_never_took_effect_is_not_checked():
    check = inv.rolled_back_in_time(ERRORS, None, None, [], failure_limit=2, error_limit=4)
    assert check.status == inv.NOT_CHECKED and "never took effect" in check.detail


def test_a_fault_that_keeps_the_run_going_is_not_checked_for_a_rollback():
    throttle = (parse_fault("control:metrics=throttle@25"),)
    assert inv.rolled_back_in_time(throttle, T0, None, [], 2, 4).status == inv.NOT_CHECKED


def test_a_crashed_lane_cannot_be_compared():
    assert inv.identical_across_lanes(0, [], ["fargate"]).status == inv.NOT_CHECKED
    assert inv.identical_across_lanes(5, ["sb-1"], []).status == inv.FAILED
    assert inv.identical_across_lanes(5, [], []).status == inv.HELD


def test_client_errors_count_in_healthy_and_control_plane_runs_only():
    control = (parse_fault("control:ledger=down@25"),)
    assert inv.no_client_errors(control, 3, 900).status == inv.FAILED
    assert inv.no_client_errors((), 0, 900).status == inv.HELD
    assert inv.no_client_errors(ERRORS, 40, 900).status == inv.NOT_CHECKED
    assert inv.no_client_errors((), 0, 0).status == inv.NOT_CHECKED


def test_nothing_accepted_is_not_checked():
    empty = SoundbiteTally(0, 0, 0, 0, 0, 0)
    assert [c.status for c in inv.soundbites_kept(empty)] == [inv.NOT_CHECKED] * 2
    lossy = SoundbiteTally(10, 8, 1, 1, 0, 10)
    assert [c.status for c in inv.soundbites_kept(lossy)] == [inv.FAILED, inv.HELD]


def test_a_run_that_ends_other_than_its_faults_document_breaks_an_invariant():
    errors_at_5 = (parse_fault("fargate:errors=0.3@5"),)
    assert inv.ended_as_documented(errors_at_5, "rolled-back").status == inv.HELD
    assert inv.ended_as_documented(errors_at_5, "held").status == inv.FAILED
    assert inv.ended_as_documented((), "promoted").status == inv.HELD
    assert inv.ended_as_documented((), "held").status == inv.FAILED
    assert inv.ended_as_documented((parse_fault("ec2:alarm@25"),), "held").status == inv.HELD
    assert inv.ended_as_documented((parse_fault("fargate:errors=0.3"),), "held").status == inv.HELD
    assert inv.ended_as_documented((parse_fault("engine:crash@50"),), "promoted").status == inv.HELD
    assert inv.ended_as_documented((parse_fault("fargate:latency=200@25"),), "held").status == inv.NOT_CHECKED


def test_a_hold_on_the_baselines_own_alarm_is_not_the_faults_outcome():
    sick_baseline = [{"kind": "verdict", "at": T0, "verdict": {
        "outcome": "fail", "severity": "hold", "reason": "alarm ec2-p95-latency (ec2) is in ALARM"}}]
    check = inv.ended_as_documented((), "held", sick_baseline)
    assert check.status == inv.NOT_CHECKED and "baseline" in check.detail
    canary_fault = [{"kind": "verdict", "at": T0, "verdict": {"outcome": "fail", "severity": "soft"}}]
    assert inv.ended_as_documented((), "held", canary_fault).status == inv.FAILED


def test_a_slow_canary_is_documented_as_a_step_back_and_a_hold():
    slow = (parse_fault("fargate:latency=400@25"),)
    stepped = [{"kind": "held", "at": T0, "reason": "stepped back to ec2 95 / fargate 5: p95 ..."}]
    assert inv.ended_as_documented(slow, "held", stepped).status == inv.HELD
    assert inv.ended_as_documented(slow, "rolled-back", stepped).status == inv.FAILED
    held_in_place = [{"kind": "held", "at": T0, "reason": "too few canary requests"}]
    assert inv.ended_as_documented(slow, "held", held_in_place).status == inv.FAILED


def test_a_fault_that_never_fired_breaks_the_run_however_well_it_ended():
    throttle, slow, crash = (parse_fault("control:metrics=throttle@5"), parse_fault("control:route53=slow@25"),
                             parse_fault("engine:crash@50"))
    quiet = {"cloudwatch": {"failed": 0, "slowed": 0}, "route53": {"failed": 0, "slowed": 0}}
    assert inv.faults_took_effect((throttle,), {}, quiet, []).status == inv.FAILED
    assert inv.faults_took_effect((slow,), {}, quiet, []).status == inv.FAILED
    met = {"cloudwatch": {"failed": 3, "slowed": 0}, "route53": {"failed": 0, "slowed": 1}}
    check = inv.faults_took_effect((throttle, slow), {}, met, [])
    assert check.status == inv.HELD and "3 cloudwatch call(s) failed" in check.detail
    runs = [{"command": "run", "exit_code": KILLED}]
    assert inv.faults_took_effect((crash,), {}, quiet, runs).status == inv.FAILED, "killed, never resumed"
    runs.append({"command": "resume", "exit_code": 0})
    assert inv.faults_took_effect((crash,), {}, quiet, runs).status == inv.HELD
    lane = parse_fault("fargate:crash@25")
    assert inv.faults_took_effect((lane,), {}, quiet, []).status == inv.FAILED
    assert inv.faults_took_effect((lane,), {str(lane): 10.0}, quiet, []).status == inv.HELD
    assert inv.faults_took_effect((), {}, quiet, []).status == inv.NOT_CHECKED
