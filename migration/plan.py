"""Migration plans as data: the steps, their soak times and gates, and the waits between.

A plan is built by a pure function (or loaded from JSON/YAML) and can be printed as a
timeline without touching anything. Built-in plans: `default` (production soaks) and
`quick` (seconds, for the local rehearsal).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from infra import phases
from migration.exceptions import PlanError
from migration.judge import JudgeConfig
from migration.notify import Hook
from soundbite import spec

VALIDATE = "validate"

DEFAULT_ANALYSIS_INTERVAL_SECONDS = 30
DEFAULT_FAILURE_LIMIT = 2
DEFAULT_INCONCLUSIVE_LIMIT = 10
DEFAULT_MAX_SOAK_EXTENSION_SECONDS = spec.DEFAULT_SOAK_SECONDS
DEFAULT_CONSECUTIVE_ERROR_LIMIT = 4
"""Checks in a row that could not be measured before the step is aborted (Argo Rollouts' 4)."""
DEFAULT_INSYNC_POLL_SECONDS = spec.INSYNC_POLL_SECONDS
DEFAULT_RECENT_INTERVALS = 2
"""The recent window: this many analysis intervals, judged beside the cumulative window."""

QUICK_SOAK_SECONDS = 8
QUICK_ANALYSIS_INTERVAL_SECONDS = 1
QUICK_TTL_WAIT_SECONDS = 1
QUICK_METRIC_LAG_SECONDS = 1
QUICK_MAX_SOAK_EXTENSION_SECONDS = 40
QUICK_INSYNC_POLL_SECONDS = 0.25
"""Room for the 5 % step to gather its requests when a busy machine slows the clients."""
QUICK_JUDGE = JudgeConfig(smallest_regression=0.1, min_requests=20, min_errors=2,
                          p95_limit_ms=3000, p95_min_regression_ms=250)
"""Seconds of soak at a few canary requests a second cannot show a one-point regression with
the power the judge claims: the rehearsal looks for ten points (its faults are larger). Its
lanes, workers, edge and load share two cores, so a p95 from a few dozen requests swings
around the 300 ms production objective on a healthy run, and a busy machine takes the whole
system past a second at 100 % (no other lane to compare with). Locally latency is judged by a
regression of at least 250 ms against the other lane (the `+400 ms` fault's size, caught at
the first step), under a 3 s ceiling for a canary gone badly wrong."""


@dataclass(frozen=True)
class SyntheticTopUp:
    """Synthetic transactions on the canary's direct name when real traffic will not fill the
    judge's sample within the soak: at most `rate` a second and `max` per step."""

    rate: float
    max: int

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.max < 1:
            raise PlanError(f"synthetic top-up needs a positive rate and max, got {self.rate}/{self.max}")


QUICK_SYNTHETIC = SyntheticTopUp(rate=2.0, max=60)
"""The rehearsal tops up its 5 % step on a busy machine rather than wait out its soak."""


@dataclass(frozen=True)
class Step:
    """One step: `percent` of public traffic to Fargate (0 for the validate step)."""

    name: str
    percent: int
    soak_seconds: float
    approval: bool = False

    @property
    def is_validation(self) -> bool:
        return self.name == VALIDATE

    @property
    def weights(self) -> dict[str, int]:
        return weights_for(self.percent)


@dataclass(frozen=True)
class Plan:
    name: str
    steps: tuple[Step, ...]
    ttl_wait_seconds: float = spec.DNS_RECORD_TTL_SECONDS
    metric_lag_seconds: float = spec.METRIC_LAG_SECONDS
    analysis_interval_seconds: float = DEFAULT_ANALYSIS_INTERVAL_SECONDS
    failure_limit: int = DEFAULT_FAILURE_LIMIT
    inconclusive_limit: int = DEFAULT_INCONCLUSIVE_LIMIT
    max_soak_extension_seconds: float = DEFAULT_MAX_SOAK_EXTENSION_SECONDS
    consecutive_error_limit: int = DEFAULT_CONSECUTIVE_ERROR_LIMIT
    insync_poll_seconds: float = DEFAULT_INSYNC_POLL_SECONDS
    recent_intervals: int = DEFAULT_RECENT_INTERVALS
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    notify: tuple[Hook, ...] = ()
    synthetic: SyntheticTopUp | None = None

    def __post_init__(self) -> None:
        validate_plan(self)

    @property
    def shift_steps(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if not s.is_validation)

    def step_named(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        raise PlanError(f"plan {self.name!r} has no step {name!r}")

    def step_for_percent(self, percent: int) -> Step | None:
        return next((s for s in self.shift_steps if s.percent == percent), None)

    def next_step(self, live_percent: int) -> Step | None:
        """The step after the live weights: validate first when no traffic has moved yet."""
        if live_percent == 0:
            return self.steps[0] if self.steps else None
        return next((s for s in self.shift_steps if s.percent > live_percent), None)

    def previous_percent(self, percent: int) -> int:
        """The percent one shift step below `percent` (0 below the first)."""
        lower = [s.percent for s in self.shift_steps if s.percent < percent]
        return lower[-1] if lower else 0

    def step_seconds(self, step: Step) -> float:
        if step.is_validation:
            return step.soak_seconds
        return self.ttl_wait_seconds + self.metric_lag_seconds + step.soak_seconds

    def timeline(self, from_percent: int = 0) -> list[dict]:
        """Each remaining step with its waits and the clock offset at which it ends."""
        rows, elapsed = [], 0.0
        for step in self.steps:
            if (step.is_validation and from_percent > 0) or (
                    not step.is_validation and step.percent <= from_percent):
                continue
            elapsed += self.step_seconds(step)
            rows.append({
                "step": step.name, "weights": step.weights, "approval": step.approval,
                "dns_ttl_wait_seconds": 0 if step.is_validation else self.ttl_wait_seconds,
                "metric_lag_seconds": 0 if step.is_validation else self.metric_lag_seconds,
                "soak_seconds": step.soak_seconds, "ends_after_seconds": elapsed,
            })
        return rows

    def expected_seconds(self, from_percent: int = 0) -> float:
        rows = self.timeline(from_percent)
        return rows[-1]["ends_after_seconds"] if rows else 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def weights_for(percent: int) -> dict[str, int]:
    """Route 53 weights that send `percent` of traffic to Fargate."""
    ec2, fargate = spec.STACKS
    return {ec2: 100 - percent, fargate: percent}


def validate_plan(plan: Plan) -> None:
    if not plan.steps:
        raise PlanError(f"plan {plan.name!r} has no steps")
    shifts = tuple(s.percent for s in plan.shift_steps)
    try:
        phases.validate_steps(shifts)
    except ValueError as exc:
        raise PlanError(f"plan {plan.name!r}: {exc}") from exc
    if any(s.is_validation for s in plan.steps[1:]):
        raise PlanError(f"plan {plan.name!r}: the validate step can only come first")
    for label, value in (("analysis interval", plan.analysis_interval_seconds),
                         ("failure limit", plan.failure_limit),
                         ("consecutive error limit", plan.consecutive_error_limit),
                         ("INSYNC poll interval", plan.insync_poll_seconds),
                         ("recent window", plan.recent_intervals)):
        if value <= 0:
            raise PlanError(f"plan {plan.name!r}: {label} must be positive, got {value}")
    for label, value in (("TTL wait", plan.ttl_wait_seconds), ("metric lag", plan.metric_lag_seconds),
                         ("soak extension", plan.max_soak_extension_seconds)):
        if value < 0:
            raise PlanError(f"plan {plan.name!r}: {label} cannot be negative, got {value}")
    if any(s.soak_seconds < 0 for s in plan.steps):
        raise PlanError(f"plan {plan.name!r}: soak times cannot be negative")


def _shift(percent: int, soak: float, approval: bool = False) -> Step:
    return Step(f"shift-{percent}", percent, soak, approval)


def default_plan() -> Plan:
    """Production: validate, then 5/25/50/100 with ten-minute soaks; a person approves 100 %."""
    soak = spec.DEFAULT_SOAK_SECONDS
    steps = [Step(VALIDATE, 0, soak)]
    steps += [_shift(p, soak, approval=(p == 100)) for p in spec.DEFAULT_SHIFT_STEPS]
    return Plan("default", tuple(steps))


def quick_plan() -> Plan:
    """The local rehearsal: the same steps with soaks of seconds."""
    soak = QUICK_SOAK_SECONDS
    steps = [Step(VALIDATE, 0, soak)] + [_shift(p, soak) for p in spec.DEFAULT_SHIFT_STEPS]
    return Plan("quick", tuple(steps), ttl_wait_seconds=QUICK_TTL_WAIT_SECONDS,
                metric_lag_seconds=QUICK_METRIC_LAG_SECONDS,
                analysis_interval_seconds=QUICK_ANALYSIS_INTERVAL_SECONDS,
                max_soak_extension_seconds=QUICK_MAX_SOAK_EXTENSION_SECONDS,
                insync_poll_seconds=QUICK_INSYNC_POLL_SECONDS, judge=QUICK_JUDGE,
                synthetic=QUICK_SYNTHETIC)


BUILT_IN = {"default": default_plan, "quick": quick_plan}
