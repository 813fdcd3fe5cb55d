"""The judge: a pure function from one window's measurements to pass, fail or inconclusive.

Absolute limits come from the seed (`spec.ALARMS`); relative limits compare the canary
(Fargate) with the baseline (EC2) over the same window. Too few requests is inconclusive,
never a pass. Every verdict carries its evidence and a reason a person can read.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum

from migration.stats import binomial_greater, fisher_greater, required_requests
from soundbite import spec


@dataclass(frozen=True)
class JudgeConfig:
    """Every threshold the judge uses; defaults are the seed's alarms plus the canary rules."""

    error_rate_limit: float = spec.ALARMS.error_rate
    p95_limit_ms: float = spec.ALARMS.p95_latency_ms
    dlq_limit: int = spec.ALARMS.dlq_messages
    oldest_message_limit_seconds: float = spec.ALARMS.oldest_message_seconds
    p95_ratio_limit: float = 1.5
    """Canary p95 more than this many times the baseline's p95 is a (soft) regression..."""
    p95_min_regression_ms: float = spec.ALARMS.p95_latency_ms / 3
    """...when it is also at least this much slower: a ratio of small latencies is noise
    (120 ms against 190 ms on a busy host is 1.6x, well inside the 300 ms objective)."""
    significance: float = 0.01
    """One-sided p-value below which an error excess counts; low because we test every interval."""
    power: float = 0.8
    min_requests: int = 50
    """Below this many canary requests nothing is concluded, whatever the statistics say."""
    min_errors: int = 3
    """Canary errors needed before either error rule can fail: every look re-tests a growing
    window, and two early errors among a trickle of canary requests stay in it for the rest
    of the step (with 2, 1 % of healthy 5 %-of-10 req/s canaries were rolled back)."""
    smallest_regression: float = spec.ALARMS.error_rate
    """The error-rate increase (absolute) worth detecting; sets how many requests a pass needs."""
    share_tolerance: float = 0.5
    """Observed canary share may differ from the intended weight by this fraction of it..."""
    share_significance: float = 0.001
    """...unless chance explains it at this level. Stricter than `significance`: misrouting
    is gross (0 % instead of 5 %), while every look re-tests a window and a strict level
    keeps a healthy step's luckless minute from holding the migration."""


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    ERROR = "error"
    """The window could not be measured (a provider failed); never a pass."""


class Severity(StrEnum):
    CRITICAL = "critical"  # roll back fully
    SOFT = "soft"  # step back one phase and hold


@dataclass(frozen=True)
class LaneWindow:
    """What one lane served in the window."""

    requests: float = 0.0
    errors: float = 0.0
    p95_ms: float | None = None

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class Measurements:
    """Everything the judge looks at for one window, already read from the providers."""

    canary: LaneWindow
    baseline: LaneWindow
    intended_share: float
    window_start: float = 0.0
    window_end: float = 0.0
    dlq_messages: float | None = None
    dlq_at_start: float | None = None
    oldest_message_seconds: float | None = None
    alarms_firing: tuple[str, ...] = ()
    capacity_problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: Severity
    message: str


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    reason: str
    severity: Severity | None = None
    findings: tuple[Finding, ...] = ()
    needed_requests: int = 0
    evidence: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["outcome"] = self.outcome.value
        data["severity"] = self.severity.value if self.severity else None
        return data


def _pct(rate: float) -> str:
    return f"{100 * rate:.1f}%"


def _p(value: float) -> str:
    return f"p={value:.2g}" if value >= 0.0001 else "p<0.0001"


def _error_findings(m: Measurements, cfg: JudgeConfig) -> list[Finding]:
    canary, baseline = m.canary, m.baseline
    if canary.requests <= 0 or canary.errors < max(1, cfg.min_errors):
        return []
    n, k = int(canary.requests), int(canary.errors)
    rate = canary.error_rate
    p_abs = binomial_greater(k, n, cfg.error_rate_limit)
    p_rel = fisher_greater(k, n, int(baseline.errors), int(baseline.requests))
    over_limit = rate > cfg.error_rate_limit and p_abs < cfg.significance
    over_baseline = (
        baseline.requests > 0
        and p_rel < cfg.significance
        and rate - baseline.error_rate >= cfg.smallest_regression
    )
    parts = []
    if over_limit:
        parts.append(f"error rate {_pct(rate)} > {_pct(cfg.error_rate_limit)} (canary, {_p(p_abs)})")
    if over_baseline:
        lead = "and" if parts else f"error rate {_pct(rate)}"
        parts.append(f"{lead} significantly above baseline {_pct(baseline.error_rate)} ({_p(p_rel)})")
    return [Finding("error-rate", Severity.CRITICAL, " ".join(parts))] if parts else []


def _latency_findings(m: Measurements, cfg: JudgeConfig) -> list[Finding]:
    p95 = m.canary.p95_ms
    if p95 is None or m.canary.requests < cfg.min_requests:
        return []
    found = []
    if p95 > cfg.p95_limit_ms:
        found.append(Finding("p95-latency", Severity.SOFT,
                             f"p95 {p95:.0f} ms > {cfg.p95_limit_ms:.0f} ms (canary)"))
    base = m.baseline.p95_ms
    if base and p95 > cfg.p95_ratio_limit * base and p95 - base >= cfg.p95_min_regression_ms:
        found.append(Finding("p95-ratio", Severity.SOFT,
                             f"p95 {p95:.0f} ms > {cfg.p95_ratio_limit:g} x baseline {base:.0f} ms"))
    return found


def _platform_findings(m: Measurements, cfg: JudgeConfig) -> list[Finding]:
    found = [Finding("alarm", Severity.CRITICAL, f"alarm {name} is in ALARM")
             for name in m.alarms_firing]
    found += [Finding("capacity", Severity.CRITICAL, text) for text in m.capacity_problems]
    if m.dlq_messages is not None and m.dlq_messages >= cfg.dlq_limit:
        before = m.dlq_at_start or 0
        if m.dlq_messages > before:
            found.append(Finding("dlq", Severity.CRITICAL,
                                 f"DLQ {m.dlq_messages:.0f} messages >= {cfg.dlq_limit} "
                                 f"(was {before:.0f} when the step began)"))
    age = m.oldest_message_seconds
    if age is not None and age > cfg.oldest_message_limit_seconds:
        found.append(Finding("queue-age", Severity.SOFT,
                             f"oldest message {age:.0f} s > {cfg.oldest_message_limit_seconds:.0f} s"))
    return found


def _share_findings(m: Measurements, cfg: JudgeConfig) -> list[Finding]:
    """The canary's share is off only when it is far from the weight AND chance cannot explain it.

    At 5 % weight a window of 80 requests expects 4 on the canary; seeing 2 is ordinary
    luck (p = 0.23), so a tolerance alone would fail healthy steps on small windows.
    """
    total = int(m.canary.requests + m.baseline.requests)
    if m.intended_share <= 0 or total < cfg.min_requests:
        return []
    observed = m.canary.requests / total
    if abs(observed - m.intended_share) <= cfg.share_tolerance * m.intended_share:
        return []
    seen = int(m.canary.requests)
    too_few = 1.0 - binomial_greater(seen + 1, total, m.intended_share)
    too_many = binomial_greater(seen, total, m.intended_share)
    p_value = min(too_few, too_many)
    if p_value >= cfg.share_significance:
        return []
    return [Finding("traffic-share", Severity.SOFT,
                    f"canary got {_pct(observed)} of {total} requests, intended "
                    f"{_pct(m.intended_share)} (p={p_value:.2g})")]


def requests_needed(baseline_rate: float, cfg: JudgeConfig) -> int:
    """Canary requests needed before a pass means something, from the baseline error rate."""
    base = min(max(baseline_rate, 0.0), 1 - cfg.smallest_regression - 1e-9)
    needed = required_requests(base, base + cfg.smallest_regression, cfg.significance, cfg.power)
    return max(cfg.min_requests, needed)


def judge(m: Measurements, cfg: JudgeConfig = JudgeConfig()) -> Verdict:
    """Judge one window: fail on any finding, inconclusive on too little data, else pass."""
    findings = (_platform_findings(m, cfg) + _error_findings(m, cfg)
                + _latency_findings(m, cfg) + _share_findings(m, cfg))
    evidence = {"measurements": asdict(m), "thresholds": asdict(cfg)}
    if findings:
        critical = any(f.severity is Severity.CRITICAL for f in findings)
        return Verdict(Outcome.FAIL, "; ".join(f.message for f in findings),
                       Severity.CRITICAL if critical else Severity.SOFT, tuple(findings),
                       evidence=evidence)
    needed = requests_needed(m.baseline.error_rate, cfg)
    have = int(m.canary.requests)
    if have < needed:
        return Verdict(Outcome.INCONCLUSIVE,
                       f"need {needed - have} more canary requests "
                       f"(have {have}, need {needed} at baseline error rate "
                       f"{_pct(m.baseline.error_rate)})",
                       needed_requests=needed - have, evidence=evidence)
    p95 = f", p95 {m.canary.p95_ms:.0f} ms" if m.canary.p95_ms is not None else ""
    return Verdict(Outcome.PASS,
                   f"error rate {_pct(m.canary.error_rate)} <= {_pct(cfg.error_rate_limit)} over "
                   f"{have} canary requests (baseline {_pct(m.baseline.error_rate)}){p95}",
                   evidence=evidence)


def judge_probe(canary: LaneWindow, baseline: LaneWindow, cfg: JudgeConfig = JudgeConfig()) -> Verdict:
    """Judge the validate phase: probes of the direct per-stack names, canary has no public traffic."""
    evidence = {"canary": asdict(canary), "baseline": asdict(baseline), "thresholds": asdict(cfg)}
    if canary.requests <= 0:
        return Verdict(Outcome.INCONCLUSIVE, "no probe of the canary's direct name ran",
                       evidence=evidence)
    findings = []
    if canary.errors > 0:
        findings.append(Finding("probe-errors", Severity.CRITICAL,
                                f"{canary.errors:.0f} of {canary.requests:.0f} probes of the canary failed"))
    if canary.p95_ms is not None and canary.p95_ms > cfg.p95_limit_ms:
        findings.append(Finding("probe-latency", Severity.SOFT,
                                f"probe p95 {canary.p95_ms:.0f} ms > {cfg.p95_limit_ms:.0f} ms"))
    if findings:
        critical = any(f.severity is Severity.CRITICAL for f in findings)
        return Verdict(Outcome.FAIL, "; ".join(f.message for f in findings),
                       Severity.CRITICAL if critical else Severity.SOFT, tuple(findings),
                       evidence=evidence)
    return Verdict(Outcome.PASS, f"{canary.requests:.0f} of {canary.requests:.0f} canary probes "
                   f"succeeded (baseline {baseline.requests - baseline.errors:.0f} of "
                   f"{baseline.requests:.0f})", evidence=evidence)


def unmeasured(cause: str) -> Verdict:
    """The verdict of a check whose measurements could not be read."""
    return Verdict(Outcome.ERROR, f"could not measure: {cause}", evidence={"error": cause})
