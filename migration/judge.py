"""The judge: a pure function from one look's measurements to pass, fail or inconclusive.

Each look has two windows: the cumulative one (since traffic settled on the step) and a
recent one (the last analysis intervals), so a fault that starts late is judged on recent
traffic, not diluted by minutes of healthy history. Error rates are tested against the seed's
1 % and against the baseline (EC2) with tests that keep a step's false-rollback rate at
`significance` however often it looks (see `stats`). Every signal belongs to a lane and has a
severity: canary signals roll back (critical) or step back (soft); a baseline alarm holds,
because rolling back onto a sick EC2 stack is no remedy. Too few requests is inconclusive,
never a pass, and says how many more the rule itself needs. Every verdict carries its
evidence and a reason a person can read.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Protocol

from migration import stats
from soundbite import spec

EC2, FARGATE = spec.STACKS
SHARED = "shared"


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
    """A healthy step's chance of any false error failure over all its looks: half spent on
    the cumulative window's sequential tests, half over the planned looks' recent windows."""
    power: float = 0.8
    """Chance of failing a canary `smallest_regression` worse than the baseline at the sample
    the judge asks for (`requests_needed`)."""
    min_requests: int = 50
    """Below this many canary requests in a window no latency or share rule is applied."""
    min_errors: int = 3
    """Canary errors needed before an error rule can fail (part of the rule whose sample
    size `requests_needed` computes, so it costs no claimed power)."""
    smallest_regression: float = spec.ALARMS.error_rate
    """The error-rate increase (absolute) worth detecting; sets how many requests a pass needs."""
    baseline_confidence: float = 0.999
    """The baseline's error rate is taken at this upper confidence bound: a baseline that
    happened to look clean does not turn the canary's ordinary errors into a regression."""
    latency_significance: float = 0.01
    """Level of the Mann-Whitney rank test (canary slower than baseline), spent over the looks."""
    share_tolerance: float = 0.5
    """Observed canary share may differ from the intended weight by this fraction of it..."""
    share_significance: float = 0.001
    """...unless chance explains it at this level..."""
    share_dispersion: float = 10.0
    """...with the binomial variance inflated this many times: DNS resolvers send all their
    clients to one answer for a TTL, so requests arrive on a lane in clumps."""
    validation_transactions: int = 3
    """Synthetic transactions (create, ready, audio) each lane completes before validate passes."""
    audio_duration_tolerance: float = 0.1
    """The same text's audio may differ in length between the lanes by this fraction."""


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    ERROR = "error"
    """The window could not be measured (a provider failed); never a pass."""


class Severity(StrEnum):
    CRITICAL = "critical"  # roll back fully
    SOFT = "soft"  # step back one phase and hold
    HOLD = "hold"  # keep the weights and hold: moving traffic would not help (sick baseline)


@dataclass(frozen=True)
class Alarm:
    """A CloudWatch alarm in ALARM, with the lane it watches and what it means for the step."""

    name: str
    lane: str = SHARED
    severity: Severity = Severity.CRITICAL


def classify_alarm(name: str) -> Alarm:
    """By the alarm names the stack creates: `<prefix>-<stack>-<metric>` belongs to a stack.

    A canary (Fargate) alarm is critical; a baseline (EC2) alarm holds; a shared alarm (queue,
    DLQ: both stacks' workers feed them) is critical, as the canary may be its cause."""
    if f"-{FARGATE}-" in name:
        return Alarm(name, FARGATE, Severity.CRITICAL)
    if f"-{EC2}-" in name:
        return Alarm(name, EC2, Severity.HOLD)
    return Alarm(name, SHARED, Severity.CRITICAL)


@dataclass(frozen=True)
class LaneWindow:
    """What one lane served in the window. `requests` includes the 5xx its load balancer
    answered itself (`balancer_errors`, also in `errors`): a lane with no healthy target still
    got those requests."""

    requests: float = 0.0
    errors: float = 0.0
    p95_ms: float | None = None
    balancer_errors: float = 0.0
    latency_samples: tuple[float, ...] | None = field(default=None, repr=False, compare=False)
    """Per-request latencies where they exist (simulation, synthetic transactions); CloudWatch
    gives only the window's p95, so the rank test is skipped there."""
    timed_requests: float | None = None
    """The requests `p95_ms` reflects, where fewer than `requests`: synthetic transactions the
    metrics cannot see add to the count, never to the latency sample."""

    @property
    def timed(self) -> float:
        return self.requests if self.timed_requests is None else self.timed_requests

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def served(self) -> float:
        """Requests a target answered."""
        return self.requests - self.balancer_errors

    def summary(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "latency_samples"}
        data["latency_samples"] = len(self.latency_samples or ())
        return data


@dataclass(frozen=True)
class Measurements:
    """Everything the judge looks at for one look, already read from the providers."""

    canary: LaneWindow
    baseline: LaneWindow
    intended_share: float
    window_start: float = 0.0
    window_end: float = 0.0
    dlq_messages: float | None = None
    dlq_at_start: float | None = None
    oldest_message_seconds: float | None = None
    alarms_firing: tuple[str | Alarm, ...] = ()
    capacity_problems: tuple[str, ...] = ()
    recent_canary: LaneWindow | None = None
    recent_baseline: LaneWindow | None = None
    recent_start: float | None = None
    looks_planned: int = 1
    """How many looks the step may take (soak and extension): the recent windows' alpha is
    spent over them."""
    synthetic_canary: LaneWindow | None = None
    """The synthetic transactions' requests on the canary in the window, already part of
    `canary` (they fill its error sample) but never of its traffic share."""

    def summary(self) -> dict:
        data = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, LaneWindow):
                value = value.summary()
            elif f.name == "alarms_firing":
                value = [a if isinstance(a, str) else a.name for a in value]
            data[f.name] = value
        return data


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
        return {"outcome": self.outcome.value, "reason": self.reason,
                "severity": self.severity.value if self.severity else None,
                "findings": [{"rule": f.rule, "severity": f.severity.value, "message": f.message}
                             for f in self.findings],
                "needed_requests": self.needed_requests, "evidence": self.evidence}


def _pct(rate: float) -> str:
    return f"{100 * rate:.1f}%"


def _p(value: float) -> str:
    return f"p={value:.2g}" if value >= 0.0001 else "p<0.0001"


# --- error rate ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Window:
    label: str
    canary: LaneWindow
    baseline: LaneWindow
    recent: bool


def _windows(m: Measurements) -> list[_Window]:
    found = [_Window("since the step began", m.canary, m.baseline, recent=False)]
    if m.recent_canary is not None and m.recent_baseline is not None:
        span = ("" if m.recent_start is None or not m.window_end
                else f"last {m.window_end - m.recent_start:.0f} s")
        found.append(_Window(span or "recent window", m.recent_canary, m.recent_baseline, recent=True))
    return found


def null_rate(baseline: LaneWindow, cfg: JudgeConfig) -> float | None:
    """The baseline's error rate as the canary is held to it: its upper confidence bound."""
    return stats.rate_upper_bound(baseline.errors, baseline.requests, cfg.baseline_confidence)


def _regressed(p0: float, cfg: JudgeConfig) -> float:
    return min(p0 + cfg.smallest_regression, 0.999)


def error_alpha(cfg: JudgeConfig, looks: int, recent: bool) -> float:
    """Each error test's level: a quarter of `significance` for each cumulative test (valid at
    any number of looks), a quarter spread over the planned looks for each recent one."""
    quarter = cfg.significance / 4
    return stats.spent_alpha(quarter, looks) if recent else quarter


def _window_fails(k: int, n: int, p0: float, cfg: JudgeConfig, alpha: float, recent: bool) -> tuple[bool, str]:
    if n <= 0 or k < max(1, cfg.min_errors) or k / n <= p0:
        return False, ""
    if recent:
        p_value = stats.binomial_greater(k, n, p0)
        return p_value < alpha, _p(p_value)
    p1 = _regressed(p0, cfg)
    ratio = stats.sprt_log_ratio(k, n, p0, p1)
    shown = "inf" if ratio > 700 else f"{math.exp(ratio):.3g}"
    return (stats.sprt_rejects(k, n, p0, p1, alpha, cfg.min_errors),
            f"sequential test: likelihood ratio {shown} >= {1 / alpha:.0f}")


def _error_findings(m: Measurements, cfg: JudgeConfig) -> list[Finding]:
    found = []
    for w in _windows(m):
        canary = w.canary
        n, k = int(canary.requests), int(canary.errors)
        if canary.balancer_errors > 0 and canary.served <= 0:  # dead: fails at once, any n
            found.append(Finding("dead-canary", Severity.CRITICAL,
                                 f"canary dead ({w.label}): the load balancer answered "
                                 f"{canary.balancer_errors:.0f} requests with 5xx and no target "
                                 "served any"))
            continue
        alpha = error_alpha(cfg, m.looks_planned, w.recent)
        parts = []
        over, how = _window_fails(k, n, cfg.error_rate_limit, cfg, alpha, w.recent)
        if over:
            parts.append(f"error rate {_pct(canary.error_rate)} ({k}/{n}) > "
                         f"{_pct(cfg.error_rate_limit)} ({how})")
        p0, worse = null_rate(w.baseline, cfg), False
        if p0 is not None and p0 < 0.999:
            worse, how = _window_fails(k, n, p0, cfg, alpha, w.recent)
            if worse:
                lead = "and" if parts else f"error rate {_pct(canary.error_rate)} ({k}/{n})"
                parts.append(f"{lead} above baseline {_pct(w.baseline.error_rate)} "
                             f"(bound {_pct(p0)}, {how})")
        base_k, base_n = int(w.baseline.errors), int(w.baseline.requests)
        sick_baseline, base_how = _window_fails(base_k, base_n, cfg.error_rate_limit, cfg, alpha, True)
        if over and sick_baseline and not worse:
            # Both lanes over the limit, the canary no worse than the baseline: the platform's
            # fault (a shared dependency), which moving traffic back would not cure: a person
            # decides. A canary far worse than a sick baseline still rolls back onto it.
            found.append(Finding("baseline-errors", Severity.HOLD,
                                 f"baseline error rate {_pct(w.baseline.error_rate)} ({base_k}/{base_n}) "
                                 f"is over the {_pct(cfg.error_rate_limit)} limit too ({base_how}, "
                                 f"{w.label}): the shared platform, not the canary; holding rather "
                                 "than roll back onto it"))
        if parts:
            found.append(Finding("error-rate", Severity.CRITICAL, " ".join(parts) + f", {w.label}"))
    return found


def _leaning_worse(m: Measurements, cfg: JudgeConfig) -> str | None:
    """A recent window in which the canary already looks worse than the baseline by the
    smallest regression the judge is sized for, not yet significantly: never a pass on it.
    (A fault that began a minute ago would otherwise be promoted on its first minute.)"""
    for w in _windows(m):
        n, k = int(w.canary.requests), int(w.canary.errors)
        if not w.recent or n <= 0 or k < max(1, cfg.min_errors):
            continue
        p0 = null_rate(w.baseline, cfg)
        bar = cfg.error_rate_limit if p0 is None else _regressed(p0, cfg)
        if k / n > bar:
            return (f"error rate {_pct(k / n)} ({k}/{n}) {w.label}, above {_pct(bar)} but not yet "
                    "significant: judging on")
    return None


def requests_needed(baseline: LaneWindow | float, cfg: JudgeConfig) -> int:
    """Canary requests at which the cumulative error rule fails, with probability `power`, a
    canary `smallest_regression` worse than the baseline's observed rate (exact, from the rule
    itself: its null is the baseline's upper bound, its minimum error count included). Without
    baseline traffic (at 100 %) the canary is held to the seed's limit instead."""
    if isinstance(baseline, LaneWindow):
        p0, observed = null_rate(baseline, cfg), baseline.error_rate
    else:  # a known baseline rate
        p0 = observed = min(max(float(baseline), 0.0), 0.99)
    if p0 is None or p0 > cfg.error_rate_limit:
        # no baseline, or one worse than the limit: the limit's test is the one that catches
        p0 = observed = cfg.error_rate_limit
    return _needed_at(round(p0, 6), round(observed, 6), cfg)


@functools.lru_cache(maxsize=4096)
def _needed_at(p0: float, observed: float, cfg: JudgeConfig) -> int:
    alpha, worse = error_alpha(cfg, 1, False), observed + cfg.smallest_regression
    needed = stats.sequential_requests(p0, _regressed(p0, cfg), alpha, cfg.power, cfg.min_errors,
                                       limit=NEEDED_LIMIT, true_rate=min(worse, 0.999))
    if needed >= NEEDED_LIMIT:
        # A baseline too small for its bound to be near its rate: size for the bound instead
        # (the bound tightens as the baseline grows, and the count is asked for again each look).
        needed = stats.sequential_requests(p0, _regressed(p0, cfg), alpha, cfg.power, cfg.min_errors)
    return max(cfg.min_requests, needed)


NEEDED_LIMIT = 1_000_000


# --- latency and share ----------------------------------------------------------------------


def _latency_findings(m: Measurements, cfg: JudgeConfig) -> list[Finding]:
    found = []
    for w in _windows(m):
        p95 = w.canary.p95_ms
        if p95 is None or w.canary.timed < cfg.min_requests:
            continue  # a p95 of a handful of requests is their maximum, not a tail
        base = w.baseline.p95_ms
        # Over the objective on its own: the canary's fault. Both lanes over it in the same
        # window: the platform's (a busy host, a slow dependency), which moving traffic back
        # would not cure; the ratio rule below still judges the canary against the baseline.
        if p95 > cfg.p95_limit_ms and not (base is not None and base > cfg.p95_limit_ms):
            found.append(Finding("p95-latency", Severity.SOFT,
                                 f"p95 {p95:.0f} ms > {cfg.p95_limit_ms:.0f} ms (canary, {w.label})"))
        if not (base and p95 > cfg.p95_ratio_limit * base and p95 - base >= cfg.p95_min_regression_ms):
            continue
        evidence = ""
        samples, reference = w.canary.latency_samples, w.baseline.latency_samples
        if samples and reference:
            alpha = stats.spent_alpha(cfg.latency_significance / 2, m.looks_planned)
            p_value = stats.mann_whitney_greater(samples, reference)
            if p_value >= alpha:
                continue  # the tail moved, the distribution did not: noise
            evidence = f", Mann-Whitney {_p(p_value)}"
        found.append(Finding("p95-ratio", Severity.SOFT,
                             f"p95 {p95:.0f} ms > {cfg.p95_ratio_limit:g} x baseline {base:.0f} ms "
                             f"({w.label}{evidence})"))
    return found


def real_requests(m: Measurements) -> float:
    """The canary's requests that real clients sent (its window less the synthetic ones)."""
    synthetic = m.synthetic_canary.requests if m.synthetic_canary else 0.0
    return max(m.canary.requests - synthetic, 0.0)


def _share_findings(m: Measurements, cfg: JudgeConfig) -> list[Finding]:
    """The canary's share is off only when it is far from the weight AND chance cannot explain
    it, allowing for requests that arrive in clumps (`share_dispersion`)."""
    real = real_requests(m)
    total = real + m.baseline.requests
    if m.intended_share <= 0 or m.intended_share >= 1 or total < cfg.min_requests:
        return []
    observed = real / total
    if abs(observed - m.intended_share) <= cfg.share_tolerance * m.intended_share:
        return []
    p_value = stats.share_p_value(real, total, m.intended_share, cfg.share_dispersion)
    if p_value >= cfg.share_significance:
        return []
    return [Finding("traffic-share", Severity.SOFT,
                    f"canary got {_pct(observed)} of {total:.0f} requests, intended "
                    f"{_pct(m.intended_share)} (p={p_value:.2g})")]


def _platform_findings(m: Measurements, cfg: JudgeConfig) -> list[Finding]:
    found = []
    for alarm in m.alarms_firing:
        alarm = classify_alarm(alarm) if isinstance(alarm, str) else alarm
        if alarm.severity is Severity.HOLD:
            found.append(Finding("baseline-alarm", Severity.HOLD,
                                 f"alarm {alarm.name} ({alarm.lane}) is in ALARM: the baseline is "
                                 "unhealthy, so the migration holds rather than roll back onto it"))
        else:
            found.append(Finding("alarm", alarm.severity,
                                 f"alarm {alarm.name} ({alarm.lane}) is in ALARM"))
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


def overall_severity(findings: list[Finding] | tuple[Finding, ...]) -> Severity:
    """A sick baseline holds whatever else failed (traffic must not go back to it); otherwise
    any critical finding rolls back, and soft ones step back."""
    kinds = {f.severity for f in findings}
    for severity in (Severity.HOLD, Severity.CRITICAL):
        if severity in kinds:
            return severity
    return Severity.SOFT


def judge(m: Measurements, cfg: JudgeConfig = JudgeConfig()) -> Verdict:
    """Judge one look: fail on any finding, inconclusive on too little data, else pass."""
    findings = (_platform_findings(m, cfg) + _error_findings(m, cfg)
                + _latency_findings(m, cfg) + _share_findings(m, cfg))
    evidence = {"measurements": m.summary(), "thresholds": {f.name: getattr(cfg, f.name)
                                                            for f in fields(cfg)}}
    if findings:
        return Verdict(Outcome.FAIL, "; ".join(f.message for f in findings),
                       overall_severity(findings), tuple(findings), evidence=evidence)
    needed = requests_needed(m.baseline if m.baseline.requests else LaneWindow(), cfg)
    have = int(m.canary.requests)
    synthetic = int(m.canary.requests - real_requests(m))
    have_label = f"have {have}, {synthetic} synthetic" if synthetic else f"have {have}"
    base = (f"baseline error rate {_pct(m.baseline.error_rate)}" if m.baseline.requests
            else f"no baseline traffic: held to the {_pct(cfg.error_rate_limit)} limit")
    if have < needed:
        return Verdict(Outcome.INCONCLUSIVE,
                       f"need {needed - have} more canary requests "
                       f"({have_label}, need {needed} at {base})",
                       needed_requests=needed - have, evidence=evidence)
    leaning = _leaning_worse(m, cfg)
    if leaning:
        return Verdict(Outcome.INCONCLUSIVE, leaning, evidence=evidence)
    p95 = f", p95 {m.canary.p95_ms:.0f} ms" if m.canary.p95_ms is not None else ""
    return Verdict(Outcome.PASS,
                   f"error rate {_pct(m.canary.error_rate)} over {have} canary requests"
                   f"{f' ({synthetic} synthetic)' if synthetic else ''}, no "
                   f"regression against the {_pct(cfg.error_rate_limit)} limit or the {base}{p95}",
                   evidence=evidence)


class TransactionResult(Protocol):
    """What the validate judge reads of one synthetic transaction (see `migration.synthetic`)."""

    ok: bool
    stage: str
    detail: str
    audio_seconds: float | None


def _as_dict(run: TransactionResult) -> dict:
    return run.to_dict() if hasattr(run, "to_dict") else {
        k: getattr(run, k) for k in ("ok", "stage", "detail", "audio_seconds")}


def _failures(label: str, runs: Sequence[TransactionResult]) -> str | None:
    failed = [t for t in runs if not t.ok]
    if not failed:
        return None
    return (f"{len(failed)} of {len(runs)} transactions on the {label} failed "
            f"(last at {failed[-1].stage}: {failed[-1].detail})")


def _mean_audio(runs: Sequence[TransactionResult]) -> float | None:
    seconds = [t.audio_seconds for t in runs if t.ok and t.audio_seconds is not None]
    return sum(seconds) / len(seconds) if seconds else None


def _seconds(value: float | None) -> str:
    return "unmeasured" if value is None else f"{value:.2f} s"


def judge_validation(canary: Sequence[TransactionResult], baseline: Sequence[TransactionResult],
                     canary_latency: LaneWindow | None, baseline_latency: LaneWindow | None,
                     cfg: JudgeConfig = JudgeConfig(), latency_measured: bool = True) -> Verdict:
    """Judge the validate step: the same transaction on both lanes' direct names, compared.

    Status (every transaction reaches ready and its audio), audio that decodes to the same
    length on both lanes, and the canary's server-side p95 from the lane's metrics (the
    operator's round trip includes DNS, TLS and polling, so it is reported, never judged).
    `latency_measured` False: the metrics cannot see requests to the direct names (the local
    edge), so latency is not judged here, and the reason says so."""
    evidence = {"canary_transactions": [_as_dict(t) for t in canary],
                "baseline_transactions": [_as_dict(t) for t in baseline],
                "canary": canary_latency.summary() if canary_latency else None,
                "baseline": baseline_latency.summary() if baseline_latency else None}
    findings = []
    sick_canary = _failures("canary (fargate)", canary)
    if sick_canary:
        findings.append(Finding("transactions", Severity.CRITICAL, sick_canary))
    sick_baseline = _failures("baseline (ec2)", baseline)
    if sick_baseline:
        findings.append(Finding("baseline-transactions", Severity.HOLD,
                                sick_baseline + ": nothing to compare the canary with"))
    ours, theirs = _mean_audio(canary), _mean_audio(baseline)
    if ours is not None and theirs is not None and abs(ours - theirs) > (
            cfg.audio_duration_tolerance * max(ours, theirs)):
        findings.append(Finding("audio-duration", Severity.CRITICAL,
                                f"the same text gave {ours:.2f} s of audio on the canary and "
                                f"{theirs:.2f} s on the baseline (more than "
                                f"{100 * cfg.audio_duration_tolerance:.0f}% apart)"))
    audio = f"audio of {_seconds(ours)} (canary) and {_seconds(theirs)} (baseline)"
    p95 = canary_latency.p95_ms if canary_latency else None
    base = baseline_latency.p95_ms if baseline_latency else None
    handful = p95 is not None and canary_latency.timed < cfg.min_requests
    if handful:  # as in the soak: a p95 of a handful of requests is their maximum, not a tail
        p95 = None
    if p95 is not None and p95 > cfg.p95_limit_ms:
        findings.append(Finding("p95-latency", Severity.SOFT,
                                f"server-side p95 {p95:.0f} ms > {cfg.p95_limit_ms:.0f} ms (canary)"))
    elif p95 is not None and base and p95 > cfg.p95_ratio_limit * base and (
            p95 - base >= cfg.p95_min_regression_ms):
        findings.append(Finding("p95-ratio", Severity.SOFT,
                                f"server-side p95 {p95:.0f} ms > {cfg.p95_ratio_limit:g} x "
                                f"baseline {base:.0f} ms"))
    if findings:
        return Verdict(Outcome.FAIL, "; ".join(f.message for f in findings),
                       overall_severity(findings), tuple(findings), evidence=evidence)
    done = min(len(canary), len(baseline))
    if done < cfg.validation_transactions:
        return Verdict(Outcome.INCONCLUSIVE, f"{done} of {cfg.validation_transactions} transactions "
                       "on each lane so far", evidence=evidence)
    if handful:
        latency = (f"latency not judged: {canary_latency.timed:.0f} timed requests on the canary are "
                   f"too few for a p95 (fewer than {cfg.min_requests}); the first shift judges it "
                   "on real traffic")
    elif p95 is None and not latency_measured:
        latency = "latency not judged: these metrics do not see the direct names"
    elif p95 is None:
        return Verdict(Outcome.INCONCLUSIVE, "no server-side latency for the canary in the metrics "
                       "yet (its load balancer's p95)", evidence=evidence)
    else:
        latency = f"p95 {p95:.0f} ms" + (f" (baseline {base:.0f} ms)" if base is not None else "")
    return Verdict(Outcome.PASS, f"{len(canary)} transactions on each lane reached ready with "
                   f"{audio}; server-side {latency}", evidence=evidence)


def judge_probe(canary: LaneWindow, baseline: LaneWindow, cfg: JudgeConfig = JudgeConfig()) -> Verdict:
    """Judge the validate phase: probes of the direct per-stack names, canary has no public traffic."""
    evidence = {"canary": canary.summary(), "baseline": baseline.summary(),
                "thresholds": {f.name: getattr(cfg, f.name) for f in fields(cfg)}}
    if canary.requests <= 0:
        return Verdict(Outcome.INCONCLUSIVE, "no probe of the canary's direct name ran",
                       evidence=evidence)
    findings = []
    if canary.errors > 0:
        findings.append(Finding("probe-errors", Severity.CRITICAL,
                                f"{canary.errors:.0f} of {canary.requests:.0f} probes of the canary failed"))
    # A probe's time includes this machine's DNS, TCP and TLS: held against the same probe of
    # the baseline, never against the server-side objective.
    ours, theirs = canary.p95_ms, baseline.p95_ms
    if (ours is not None and theirs and ours > cfg.p95_ratio_limit * theirs
            and ours - theirs >= cfg.p95_min_regression_ms):
        findings.append(Finding("probe-latency", Severity.SOFT,
                                f"probe p95 {ours:.0f} ms > {cfg.p95_ratio_limit:g} x the baseline's "
                                f"{theirs:.0f} ms (both probed from this machine)"))
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
