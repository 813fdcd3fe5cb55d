"""The judge's statistics and windows: claimed power, honest repeated looks, late faults,
lane-aware signals and a dead canary (simulated metrics; the emulator is in test_lanes)."""

from __future__ import annotations

import numpy as np

from migration import simulate, stats
from migration.analysis import Action, Analysis
from migration.judge import (
    JudgeConfig,
    LaneWindow,
    Measurements,
    Outcome,
    Severity,
    classify_alarm,
    error_alpha,
    judge,
    requests_needed,
)
from migration.plan import Step, default_plan

CFG = JudgeConfig()
BIG = 10 ** 6


def test_the_requested_sample_has_the_claimed_power_under_the_rule_itself():
    for base in (0.001, 0.005, 0.0):
        n = requests_needed(base, CFG)
        alpha = error_alpha(CFG, 1, recent=False)
        p1 = base + CFG.smallest_regression
        at_n = stats.sprt_power(n, base, p1, alpha, CFG.min_errors)
        assert at_n >= CFG.power
        assert stats.sprt_power(n // 2, base, p1, alpha, CFG.min_errors) < CFG.power


def test_repeated_looks_keep_false_failures_under_alpha():
    rng, p0, alpha = np.random.default_rng(5), 0.008, error_alpha(CFG, 1, recent=False)
    runs, looks, per_look = 4000, 40, 150
    errors = rng.binomial(per_look, p0, size=(runs, looks)).cumsum(axis=1)
    crossed = 0
    for row in errors:
        crossed += any(stats.sprt_rejects(int(k), per_look * (i + 1), p0, p0 + 0.01, alpha, 3)
                       for i, k in enumerate(row))
    assert crossed / runs <= alpha  # Ville: at most alpha however many looks
    fixed = sum(any(stats.binomial_greater(int(k), per_look * (i + 1), p0) < alpha
                    for i, k in enumerate(row)) for row in errors)
    assert fixed > crossed  # the old way, a fixed-level test at every look, is not honest


def m(canary, baseline, share=0.05, **kw):
    return Measurements(canary, baseline, share, **kw)


def test_a_late_fault_fails_on_the_recent_window_while_the_cumulative_one_is_clean():
    canary, baseline = LaneWindow(3000, 6), LaneWindow(57000, 57)  # 10 minutes, mostly healthy
    recent_c, recent_b = LaneWindow(300, 15), LaneWindow(5700, 6)  # the last minute: 5 % errors
    clean = judge(m(canary, baseline, window_end=600))
    assert clean.outcome is Outcome.PASS
    late = judge(m(canary, baseline, window_end=600, recent_canary=recent_c,
                   recent_baseline=recent_b, recent_start=540, looks_planned=40))
    assert late.outcome is Outcome.FAIL and late.severity is Severity.CRITICAL
    assert "last 60 s" in late.reason and "since the step began" not in late.reason


def test_a_recent_window_that_leans_worse_is_never_a_pass():
    """The first minute of a late fault: 6 errors in 300 is not yet significant at a late
    look's spent alpha, but the canary already looks 1.9 points worse: judge on, do not promote."""
    canary, baseline = LaneWindow(3000, 9), LaneWindow(57000, 57)
    leaning = judge(m(canary, baseline, window_end=660, recent_canary=LaneWindow(300, 6),
                      recent_baseline=LaneWindow(5700, 6), recent_start=600, looks_planned=40))
    assert leaning.outcome is Outcome.INCONCLUSIVE, leaning.reason
    assert "not yet significant" in leaning.reason and "last 60 s" in leaning.reason
    noisy = judge(m(canary, baseline, window_end=660, recent_canary=LaneWindow(300, 3),
                    recent_baseline=LaneWindow(5700, 6), recent_start=600, looks_planned=40))
    assert noisy.outcome is Outcome.PASS, noisy.reason


def test_a_fault_starting_two_minutes_before_the_decision_on_the_clock_is_never_promoted():
    """Only its first minute is visible (the metric lag): the recent window leans worse."""
    plan = default_plan()
    start = plan.ttl_wait_seconds + 600 - 120 + plan.metric_lag_seconds
    fault = simulate.Fault(0.05, 5, 100.0, baseline_error_rate=0.001, starts_at=start)
    rng = np.random.default_rng(11)
    actions = [simulate.run_step(simulate.Traffic(fault, rng, 1500), fault, plan).action
               for _ in range(200)]
    assert Action.PROMOTE not in actions


def test_the_simulated_step_drives_the_engines_analysis_and_catches_a_late_fault():
    plan = default_plan()
    fault = simulate.Fault(0.05, 5, 100.0, starts_at=plan.ttl_wait_seconds + 600 - 120)
    rng = np.random.default_rng(11)
    actions = [simulate.run_step(simulate.Traffic(fault, rng, 1500), fault, plan).action
               for _ in range(20)]
    assert actions == [Action.ROLLBACK] * 20
    healthy = simulate.Fault(0.001, 5, 100.0)
    run = simulate.run_step(simulate.Traffic(healthy, rng, 1500), healthy, plan)
    assert run.action is Action.PROMOTE


def test_a_dead_canary_is_critical_at_once_whatever_the_sample():
    dead = LaneWindow(requests=12, errors=12, balancer_errors=12)
    v = judge(m(dead, LaneWindow(2000, 2)))
    assert v.outcome is Outcome.FAIL and v.severity is Severity.CRITICAL
    assert "canary dead" in v.reason and "no target served any" in v.reason
    sick = LaneWindow(requests=12, errors=12, balancer_errors=6)  # targets answered some
    assert not any(f.rule == "dead-canary" for f in judge(m(sick, LaneWindow(2000, 2))).findings)


def test_alarms_belong_to_lanes_and_a_baseline_alarm_holds():
    assert classify_alarm("soundbite-prod-ec2-error-rate").severity is Severity.HOLD
    assert classify_alarm("soundbite-prod-fargate-p95-latency").severity is Severity.CRITICAL
    assert classify_alarm("soundbite-prod-dlq-messages").lane == "shared"
    v = judge(m(LaneWindow(100, 50), LaneWindow(2000, 2),
                alarms_firing=("soundbite-prod-ec2-error-rate",)))
    assert v.severity is Severity.HOLD  # even beside a failing canary: EC2 is no refuge
    assert "baseline is unhealthy" in v.reason
    plan = default_plan()
    analysis = Analysis.for_step(Step("shift-5", 5, 600), plan, started_at=0)
    decision = analysis.observe(v, 30)
    assert decision.action is Action.HOLD and "soundbite-prod-ec2-error-rate" in decision.reason


def test_the_share_test_allows_for_dns_clumps_but_not_misrouting():
    clumpy = m(LaneWindow(160, 0), LaneWindow(1840, 0))  # 8 % of 2000 at 5 %
    assert not any(f.rule == "traffic-share" for f in judge(clumpy).findings)
    strict = JudgeConfig(share_dispersion=1.0)
    assert any(f.rule == "traffic-share" for f in judge(clumpy, strict).findings)
    starved = m(LaneWindow(0, 0), LaneWindow(4000, 0))
    assert any(f.rule == "traffic-share" for f in judge(starved).findings)


def test_the_rank_test_keeps_a_noisy_tail_from_holding_and_confirms_a_real_slowdown():
    rng = np.random.default_rng(3)
    base = tuple(rng.lognormal(np.log(100), 0.4, 4000))
    same = tuple(rng.lognormal(np.log(100), 0.4, 300))
    slow = tuple(rng.lognormal(np.log(250), 0.4, 300))
    noisy_tail = LaneWindow(300, 0, 320.0, latency_samples=same)  # a lucky-bad p95, same shape
    v = judge(m(noisy_tail, LaneWindow(4000, 0, 190.0, latency_samples=base), share=0.0))
    assert not any(f.rule == "p95-ratio" for f in v.findings)
    v = judge(m(LaneWindow(300, 0, 480.0, latency_samples=slow),
                LaneWindow(4000, 0, 190.0, latency_samples=base), share=0.0))
    assert any(f.rule == "p95-ratio" and "Mann-Whitney" in f.message for f in v.findings)
