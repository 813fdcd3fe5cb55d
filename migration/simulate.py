"""Time to detect a faulty canary, simulated on a fake clock with binomially sampled traffic.

Three detectors see the same fault (the canary's error rate, its weight, the total request
rate), measured from the moment the canary takes its share of traffic:

- this engine: the real `judge` over cumulative windows after the TTL wait and the metric lag,
  acting on the plan's failure limit;
- Flagger's documented defaults: analysis `interval: 1m`, `threshold: 5` failed checks, the
  request-success-rate check at 99 % over a one-minute window;
- CodeDeploy's alarm-based rollback: a CloudWatch alarm on the canary's 5xx rate with
  one-minute periods; assumed here `spec.ALARMS.evaluation_periods` of them (3 of 3
  datapoints) at the seed's 1 % threshold, seen after the metric publication lag.

Nothing sleeps; a benchmark can call `compare` directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from migration.analysis import Action, Analysis
from migration.judge import LaneWindow, Measurements, judge
from migration.plan import Plan, Step, default_plan
from soundbite import spec

FLAGGER_INTERVAL_SECONDS = 60
FLAGGER_THRESHOLD = 5
FLAGGER_MIN_SUCCESS_RATE = 0.99
CODEDEPLOY_PERIOD_SECONDS = spec.ALARMS.period_seconds
CODEDEPLOY_EVALUATION_PERIODS = spec.ALARMS.evaluation_periods
HORIZON_SECONDS = 3600


@dataclass(frozen=True)
class Fault:
    canary_error_rate: float = 0.05
    canary_percent: int = 5
    requests_per_second: float = 100.0
    baseline_error_rate: float = 0.001


class _Traffic:
    """Per-second request and error counts for both lanes, drawn once and shared."""

    def __init__(self, fault: Fault, rng: np.random.Generator, seconds: int = HORIZON_SECONDS):
        share = fault.canary_percent / 100
        self.canary_n = rng.poisson(fault.requests_per_second * share, seconds)
        self.base_n = rng.poisson(fault.requests_per_second * (1 - share), seconds)
        self.canary_e = rng.binomial(self.canary_n, fault.canary_error_rate)
        self.base_e = rng.binomial(self.base_n, fault.baseline_error_rate)

    def window(self, start: float, end: float) -> tuple[LaneWindow, LaneWindow]:
        a, b = int(start), int(end)
        return (LaneWindow(float(self.canary_n[a:b].sum()), float(self.canary_e[a:b].sum())),
                LaneWindow(float(self.base_n[a:b].sum()), float(self.base_e[a:b].sum())))


def engine_detection(traffic: _Traffic, fault: Fault, plan: Plan,
                     horizon: float = HORIZON_SECONDS) -> float | None:
    """When the executor's own analysis (the judge, the step's counters) would roll back."""
    settled = plan.ttl_wait_seconds
    t = settled + plan.metric_lag_seconds
    step = Step(f"shift-{fault.canary_percent}", fault.canary_percent, soak_seconds=horizon)
    analysis = Analysis.for_step(step, plan, started_at=t)
    while t + plan.analysis_interval_seconds <= horizon:
        t += plan.analysis_interval_seconds
        canary, baseline = traffic.window(settled, t - plan.metric_lag_seconds)
        verdict = judge(Measurements(canary, baseline, fault.canary_percent / 100), plan.judge)
        action = analysis.observe(verdict, t).action
        if action is Action.ROLLBACK:
            return t
        if action is not Action.CONTINUE:
            return None
    return None


def flagger_detection(traffic: _Traffic) -> float | None:
    failed, t = 0, 0
    while t < HORIZON_SECONDS - FLAGGER_INTERVAL_SECONDS:
        t += FLAGGER_INTERVAL_SECONDS
        canary, _ = traffic.window(t - FLAGGER_INTERVAL_SECONDS, t)
        if canary.requests and 1 - canary.error_rate < FLAGGER_MIN_SUCCESS_RATE:
            failed += 1
            if failed >= FLAGGER_THRESHOLD:
                return t
    return None


def codedeploy_detection(traffic: _Traffic, lag: float = spec.METRIC_LAG_SECONDS) -> float | None:
    breaching, t = 0, 0
    while t < HORIZON_SECONDS - CODEDEPLOY_PERIOD_SECONDS:
        t += CODEDEPLOY_PERIOD_SECONDS
        canary, _ = traffic.window(t - CODEDEPLOY_PERIOD_SECONDS, t)
        breaching = breaching + 1 if canary.error_rate > spec.ALARMS.error_rate else 0
        if breaching >= CODEDEPLOY_EVALUATION_PERIODS:
            return t + lag
    return None


def compare(fault: Fault = Fault(), plan: Plan | None = None, trials: int = 20,
            seed: int = 1) -> dict[str, float | None]:
    """Median seconds from fault exposure to rollback for each detector (None: never)."""
    plan = plan or default_plan()
    rng = np.random.default_rng(seed)
    found: dict[str, list[float]] = {"soundbite": [], "flagger": [], "codedeploy": []}
    for _ in range(trials):
        traffic = _Traffic(fault, rng)
        for name, value in (("soundbite", engine_detection(traffic, fault, plan)),
                            ("flagger", flagger_detection(traffic)),
                            ("codedeploy", codedeploy_detection(traffic))):
            found[name].append(float("inf") if value is None else value)
    medians = {name: float(np.median(values)) for name, values in found.items()}
    return {name: (None if m == float("inf") else m) for name, m in medians.items()}
