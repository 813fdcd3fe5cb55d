"""Faulty and healthy canaries simulated on a fake clock, judged by the engine's own analysis.

Traffic is drawn per second (Poisson arrivals split by the weight, binomial errors, optional
per-request latencies and DNS clumping); a step is then run exactly as the executor runs it:
the same `Analysis` object (windows, counters, decisions) and the real `judge`, looking every
analysis interval at metrics the lag behind. Three detectors see the same fault:

- this engine, as above;
- Flagger's documented defaults: analysis `interval: 1m`, `threshold: 5` failed checks, the
  request-success-rate check at 99 % over a one-minute window;
- CodeDeploy's alarm-based rollback: a CloudWatch alarm on the canary's 5xx rate with
  one-minute periods; assumed here `spec.ALARMS.evaluation_periods` of them (3 of 3
  datapoints) at the seed's 1 % threshold, seen after the metric publication lag.

Nothing sleeps; a benchmark can call `compare` or `run_step` directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from migration.analysis import Action, Analysis, Windows
from migration.judge import LaneWindow, Measurements, judge
from migration.plan import Plan, Step, default_plan
from soundbite import spec

FLAGGER_INTERVAL_SECONDS = 60
FLAGGER_THRESHOLD = 5
FLAGGER_MIN_SUCCESS_RATE = 0.99
CODEDEPLOY_PERIOD_SECONDS = spec.ALARMS.period_seconds
CODEDEPLOY_EVALUATION_PERIODS = spec.ALARMS.evaluation_periods
HORIZON_SECONDS = 3600
LATENCY_MEDIAN_MS = 100.0
LATENCY_SIGMA = 0.4
"""Per-request latency: lognormal, p95 about 193 ms."""
BASELINE_SAMPLES_PER_CANARY = 4
"""The baseline's latencies are a random subsample (a p95 and a rank test need no more)."""


@dataclass(frozen=True)
class Fault:
    canary_error_rate: float = 0.05
    canary_percent: int = 5
    requests_per_second: float = 100.0
    baseline_error_rate: float = 0.001
    starts_at: float = 0.0
    """Traffic second from which the canary errs at `canary_error_rate` (before: the baseline's)."""
    latency_jitter: float = 0.0
    """Per-minute lognormal sigma of each lane's latency level; 0 draws no latencies."""
    canary_latency_factor: float = 1.0
    clumping: float = 0.0
    """Per-TTL lognormal sigma of the canary's share: resolvers send clients in clumps."""


class Traffic:
    """Per-second request and error counts (and latencies) for both lanes, drawn once."""

    def __init__(self, fault: Fault, rng: np.random.Generator, seconds: int = HORIZON_SECONDS):
        share = np.full(seconds, fault.canary_percent / 100)
        if fault.clumping:
            blocks = rng.lognormal(0.0, fault.clumping, seconds // spec.DNS_RECORD_TTL_SECONDS + 1)
            share = np.clip(share * np.repeat(blocks, spec.DNS_RECORD_TTL_SECONDS)[:seconds], 0, 1)
        total = rng.poisson(fault.requests_per_second, seconds)
        self.seconds = seconds
        self.canary_n = rng.binomial(total, share)
        self.base_n = total - self.canary_n
        canary_rate = np.where(np.arange(seconds) >= fault.starts_at, fault.canary_error_rate,
                               fault.baseline_error_rate)
        self.canary_e = rng.binomial(self.canary_n, canary_rate)
        self.base_e = rng.binomial(self.base_n, fault.baseline_error_rate)
        self.latency = None
        if fault.latency_jitter:
            sampled = np.minimum(self.base_n, BASELINE_SAMPLES_PER_CANARY * np.maximum(self.canary_n, 1))
            self.latency = (self._latencies(self.canary_n, fault, rng, fault.canary_latency_factor),
                            self._latencies(sampled, fault, rng, 1.0))

    @staticmethod
    def _latencies(counts, fault, rng, factor):
        minutes = len(counts) // 60 + 1
        level = np.repeat(rng.lognormal(0.0, fault.latency_jitter, minutes), 60)[:len(counts)]
        per_request = np.repeat(level * factor, counts)
        values = LATENCY_MEDIAN_MS * per_request * rng.lognormal(0.0, LATENCY_SIGMA, int(counts.sum()))
        return values, np.concatenate([[0], np.cumsum(counts)])

    def _lane(self, n, e, latency, a: int, b: int) -> LaneWindow:
        samples, p95 = None, None
        if latency is not None:
            values, offsets = latency
            chunk = values[offsets[a]:offsets[b]]
            if len(chunk):
                samples, p95 = tuple(chunk), float(np.quantile(chunk, 0.95))
        return LaneWindow(float(n[a:b].sum()), float(e[a:b].sum()), p95, latency_samples=samples)

    def window(self, start: float, end: float) -> tuple[LaneWindow, LaneWindow]:
        a, b = max(0, int(start)), min(self.seconds, int(end))
        lat = self.latency or (None, None)
        return (self._lane(self.canary_n, self.canary_e, lat[0], a, b),
                self._lane(self.base_n, self.base_e, lat[1], a, b))

    def measurements(self, windows: Windows, share: float, looks: int) -> Measurements:
        canary, baseline = self.window(windows.start, windows.end)
        recent = windows.recent_start > windows.start
        rc, rb = self.window(windows.recent_start, windows.end) if recent else (None, None)
        return Measurements(canary, baseline, share, windows.start, windows.end,
                            recent_canary=rc, recent_baseline=rb,
                            recent_start=windows.recent_start if recent else None, looks_planned=looks)


_Traffic = Traffic  # the name the benchmarks used before


@dataclass(frozen=True)
class StepRun:
    """How one simulated step ended: the action, when (seconds after the weight change), and
    the canary requests judged by then; `action` None means the horizon ran out."""

    action: Action | None
    at: float
    reason: str = ""
    canary_requests: float = 0.0
    looks: int = 0


def run_step(traffic: Traffic, fault: Fault, plan: Plan, soak_seconds: float | None = None,
             horizon: float | None = None, stop_when=None) -> StepRun:
    """One shift step as the executor runs it: TTL wait, metric lag, then a look every interval.

    `stop_when(measurements, verdict)` may end an undecided run early (a benchmark's own
    yardstick); a decision always ends it first."""
    settled = plan.ttl_wait_seconds
    t = settled + plan.metric_lag_seconds
    soak = plan.shift_steps[0].soak_seconds if soak_seconds is None else soak_seconds
    step = Step(f"shift-{fault.canary_percent}", fault.canary_percent, soak_seconds=soak)
    analysis = Analysis.for_step(step, plan, started_at=t)
    limit = traffic.seconds if horizon is None else min(horizon, traffic.seconds)
    share, looks = fault.canary_percent / 100, analysis.looks_planned
    while t + plan.analysis_interval_seconds <= limit:
        t += plan.analysis_interval_seconds
        m = traffic.measurements(analysis.windows(settled, t), share, looks)
        verdict = judge(m, plan.judge)
        decision = analysis.observe(verdict, t)
        if decision.action is not Action.CONTINUE:
            return StepRun(decision.action, t, decision.reason, m.canary.requests, analysis.checks)
        if stop_when is not None and stop_when(m, verdict):
            return StepRun(None, t, verdict.reason, m.canary.requests, analysis.checks)
    return StepRun(None, t, "", 0.0, analysis.checks)


def engine_detection(traffic: Traffic, fault: Fault, plan: Plan,
                     horizon: float = HORIZON_SECONDS) -> float | None:
    """When the executor's own analysis would roll back a step soaking to the horizon."""
    run = run_step(traffic, fault, plan, soak_seconds=horizon, horizon=horizon)
    return run.at if run.action is Action.ROLLBACK else None


def flagger_detection(traffic: Traffic) -> float | None:
    failed, t = 0, 0
    while t < traffic.seconds - FLAGGER_INTERVAL_SECONDS:
        t += FLAGGER_INTERVAL_SECONDS
        canary, _ = traffic.window(t - FLAGGER_INTERVAL_SECONDS, t)
        if canary.requests and 1 - canary.error_rate < FLAGGER_MIN_SUCCESS_RATE:
            failed += 1
            if failed >= FLAGGER_THRESHOLD:
                return t
    return None


def codedeploy_detection(traffic: Traffic, lag: float = spec.METRIC_LAG_SECONDS) -> float | None:
    breaching, t = 0, 0
    while t < traffic.seconds - CODEDEPLOY_PERIOD_SECONDS:
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
        traffic = Traffic(fault, rng)
        for name, value in (("soundbite", engine_detection(traffic, fault, plan)),
                            ("flagger", flagger_detection(traffic)),
                            ("codedeploy", codedeploy_detection(traffic))):
            found[name].append(float("inf") if value is None else value)
    medians = {name: float(np.median(values)) for name, values in found.items()}
    return {name: (None if m == float("inf") else m) for name, m in medians.items()}
