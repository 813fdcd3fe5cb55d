"""The judge's verdicts and the reasons a person reads."""

from migration.judge import (
    JudgeConfig,
    LaneWindow,
    Measurements,
    Outcome,
    Severity,
    judge,
    judge_probe,
)

BASELINE = LaneWindow(28500, 30, 90.0)


def m(canary, baseline=BASELINE, share=0.05, **kw):
    return Measurements(canary, baseline, share, **kw)


def test_5xx_regression_fails_critically_with_numbers_in_the_reason():
    v = judge(m(LaneWindow(500, 24, 95.0)))
    assert v.outcome is Outcome.FAIL and v.severity is Severity.CRITICAL
    assert "error rate 4.8% (24/500) > 1.0% (sequential test" in v.reason
    assert "above baseline 0.1%" in v.reason and "since the step began" in v.reason
    assert v.evidence["measurements"]["canary"]["errors"] == 24


def test_a_few_errors_below_significance_do_not_fail():
    v = judge(m(LaneWindow(1500, 2, 95.0)))
    assert v.outcome is Outcome.PASS


def test_no_traffic_is_inconclusive_with_the_requests_still_needed():
    v = judge(m(LaneWindow(0, 0, None), LaneWindow(0, 0, None)))
    assert v.outcome is Outcome.INCONCLUSIVE
    assert v.needed_requests > 0
    assert f"need {v.needed_requests} more canary requests" in v.reason


def test_more_baseline_errors_need_more_canary_requests():
    quiet = judge(m(LaneWindow(10, 0), LaneWindow(19000, 0), share=0.0))
    noisy = judge(m(LaneWindow(10, 0), LaneWindow(19000, 100), share=0.0))
    assert quiet.outcome is noisy.outcome is Outcome.INCONCLUSIVE
    assert noisy.needed_requests > quiet.needed_requests


def test_latency_over_limit_and_ratio_is_a_soft_failure():
    v = judge(m(LaneWindow(1500, 0, 412.0)))
    assert v.severity is Severity.SOFT
    assert "p95 412 ms > 300 ms" in v.reason and "x baseline 90 ms" in v.reason


def test_alarm_dlq_and_capacity_are_critical_even_without_traffic():
    v = judge(m(LaneWindow(), alarms_firing=("soundbite-dev-fargate-error-rate",), dlq_messages=3,
                dlq_at_start=0, capacity_problems=("fargate: 0 of 2 tasks running",)))
    assert v.severity is Severity.CRITICAL
    assert "alarm soundbite-dev-fargate-error-rate (fargate) is in ALARM" in v.reason and "DLQ 3 messages >= 1" in v.reason
    assert "0 of 2 tasks running" in v.reason


def test_dlq_that_did_not_grow_is_not_blamed_on_the_canary():
    assert judge(m(LaneWindow(1500, 0, 90.0), dlq_messages=2, dlq_at_start=2)).outcome is Outcome.PASS


def test_traffic_share_far_from_the_weight_is_a_soft_failure():
    v = judge(m(LaneWindow(100, 0, 90.0), LaneWindow(9900, 0, 90.0), share=0.25))
    assert v.severity is Severity.SOFT and "intended 25.0%" in v.reason


def test_config_changes_the_limits():
    loose = JudgeConfig(error_rate_limit=0.10, smallest_regression=0.10)
    busy = LaneWindow(9500, 380, 90.0)  # a baseline at 4 %: the canary's 4.8 % is no regression
    assert "> 1.0%" in judge(m(LaneWindow(500, 24, 95.0), busy)).reason
    assert judge(m(LaneWindow(500, 24, 95.0), busy), loose).outcome is Outcome.PASS


def test_probe_judge():
    assert judge_probe(LaneWindow(), LaneWindow()).outcome is Outcome.INCONCLUSIVE
    assert judge_probe(LaneWindow(10, 1, 5.0), LaneWindow(10, 0, 5.0)).severity is Severity.CRITICAL
    assert judge_probe(LaneWindow(10, 0, 5.0), LaneWindow(10, 0, 5.0)).outcome is Outcome.PASS
    # a probe's round trip from the operator's machine is compared with the baseline's, not 300 ms
    far = judge_probe(LaneWindow(10, 0, 420.0), LaneWindow(10, 0, 400.0))
    assert far.outcome is Outcome.PASS, "both lanes far from this machine: nothing to blame the canary for"
    slow = judge_probe(LaneWindow(10, 0, 650.0), LaneWindow(10, 0, 400.0))
    assert slow.severity is Severity.SOFT and "1.5 x the baseline's 400 ms" in slow.reason


def test_a_small_window_at_5_percent_is_not_a_share_problem():
    # 80 requests at 5 % expect 4 on the canary; 2 is ordinary luck, not misrouting.
    m = Measurements(LaneWindow(2, 0, 20.0), LaneWindow(78, 0, 20.0), intended_share=0.05)
    assert not any(f.rule == "traffic-share" for f in judge(m).findings)


def test_a_canary_starved_over_a_large_window_is_a_soft_share_failure():
    m = Measurements(LaneWindow(20, 0, 20.0), LaneWindow(3980, 0, 20.0), intended_share=0.05)
    verdict = judge(m)
    assert verdict.outcome is Outcome.FAIL and verdict.severity is Severity.SOFT
    assert "canary got 0.5% of 4000 requests, intended 5.0%" in verdict.reason


def test_a_small_latency_ratio_under_the_objective_is_not_a_regression():
    assert judge(m(LaneWindow(1500, 0, 190.0), LaneWindow(28500, 0, 124.0))).outcome is Outcome.PASS
    v = judge(m(LaneWindow(1500, 0, 260.0), LaneWindow(28500, 0, 124.0)))
    assert v.outcome is Outcome.FAIL and "p95 260 ms > 1.5 x baseline 124 ms" in v.reason


def test_a_slow_platform_is_not_blamed_on_the_canary():
    """Both lanes over the 300 ms objective (a busy host): no step back for the canary; a canary
    over it alone, or far slower than a slow baseline, still fails."""
    both_slow = judge(m(LaneWindow(2000, 0, 700.0), LaneWindow(38000, 0, 680.0)))
    assert both_slow.outcome is Outcome.PASS, both_slow.reason
    alone = judge(m(LaneWindow(2000, 0, 700.0), LaneWindow(38000, 0, 120.0)))
    assert alone.outcome is Outcome.FAIL and "p95 700 ms > 300 ms (canary" in alone.reason
    much_slower = judge(m(LaneWindow(2000, 0, 1400.0), LaneWindow(38000, 0, 500.0)))
    assert much_slower.outcome is Outcome.FAIL and "x baseline 500 ms" in much_slower.reason


def test_both_lanes_over_the_error_limit_hold_rather_than_roll_back_onto_a_sick_baseline():
    """A shared dependency failing makes both lanes answer 5xx: sending all traffic back to EC2
    would not cure it (the runbook: an EC2-side problem is no reason to roll back)."""
    sick = LaneWindow(9500, 475, 90.0)  # 5 % on the baseline too
    v = judge(m(LaneWindow(500, 25, 95.0), sick))
    assert v.outcome is Outcome.FAIL and v.severity is Severity.HOLD, v.reason
    assert "baseline error rate 5.0% (475/9500) is over the 1.0% limit too" in v.reason
    alone = judge(m(LaneWindow(500, 25, 95.0)))  # the canary alone: its own fault
    assert alone.severity is Severity.CRITICAL
    far_worse = judge(m(LaneWindow(500, 150, 95.0), LaneWindow(9500, 143, 90.0)))  # 30 % vs 1.5 %
    assert far_worse.severity is Severity.CRITICAL, "far worse than a sick baseline: back onto it"
