"""One step's analysis as a pure object: the executor, the simulation and the benchmarks drive it.

The executor reads measurements and asks the judge; `Analysis.observe` turns the stream of
verdicts into the step's decision, keeping every counter a soak needs (failure streak,
consecutive errors, late inconclusive checks, the deadlines). Nothing here sleeps or calls AWS.

- `fail`: counted in a streak; `failure_limit` in a row roll back (critical) or step back
  one phase and hold (soft). A validate step never moves traffic, so it holds instead.
- `error` (a provider could not be read): never a pass and never resets the failure streak;
  `consecutive_error_limit` in a row abort the step and roll back, as Argo Rollouts does.
- `fail` of severity `hold` (a sick baseline) holds at once: moving traffic would not help.
- `pass` after the soak time promotes; `inconclusive` past the soak keeps judging until
  the extension or the inconclusive budget is used up, then holds with the reason. A `fail`
  at the deadline rolls back (critical) or steps back (soft): a failing canary is never held.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

from migration.judge import Outcome, Severity, Verdict


class Action(StrEnum):
    CONTINUE = "continue"
    PROMOTE = "promote"
    ROLLBACK = "rollback"
    STEP_BACK = "step-back"
    HOLD = "hold"


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str = ""


@dataclass(frozen=True)
class Budget:
    """The plan's numbers an analysis needs (a `Plan` satisfies it)."""

    failure_limit: int
    consecutive_error_limit: int
    inconclusive_limit: int
    max_soak_extension_seconds: float
    analysis_interval_seconds: float = 30.0
    metric_lag_seconds: float = 0.0
    recent_intervals: int = 2


@dataclass(frozen=True)
class Windows:
    """The two windows one look judges: cumulative since traffic settled, and recent."""

    start: float
    recent_start: float
    end: float
@dataclass
class Analysis:
    step_name: str
    soak_seconds: float
    started_at: float
    budget: Budget
    validation: bool = False
    failures: int = 0
    errors: int = 0
    late_inconclusive: int = 0
    checks: int = 0
    history: list[str] = field(default_factory=list)

    @classmethod
    def for_step(cls, step, plan, started_at: float) -> Analysis:
        budget = Budget(plan.failure_limit, plan.consecutive_error_limit, plan.inconclusive_limit,
                        plan.max_soak_extension_seconds, plan.analysis_interval_seconds,
                        plan.metric_lag_seconds, plan.recent_intervals)
        return cls(step.name, step.soak_seconds, started_at, budget, validation=step.is_validation)

    def elapsed(self, now: float) -> float:
        return now - self.started_at

    @property
    def deadline_seconds(self) -> float:
        return self.soak_seconds + self.budget.max_soak_extension_seconds

    @property
    def looks_planned(self) -> int:
        """The most looks this step can take: the recent windows' alpha is spent over them."""
        return max(1, math.ceil(self.deadline_seconds / self.budget.analysis_interval_seconds))

    def windows(self, settled_at: float, now: float) -> Windows:
        """What a look at `now` reads: metrics up to the lag ago, cumulative since traffic
        settled and the last `recent_intervals` intervals."""
        end = now - self.budget.metric_lag_seconds
        span = self.budget.recent_intervals * self.budget.analysis_interval_seconds
        return Windows(settled_at, max(settled_at, end - span), end)

    def observe(self, verdict: Verdict, now: float) -> Decision:
        """Count one check's verdict; the decision says what the executor does next."""
        decision = self._decide(verdict, now)
        if (decision.action is Action.CONTINUE and verdict.outcome is not Outcome.ERROR
                and self.elapsed(now) >= self.deadline_seconds):
            label = "validate" if self.validation else self.step_name
            if verdict.outcome is Outcome.FAIL and not self.validation:
                # time ran out on a failing canary: never hold traffic on it
                why = f"{label}: {verdict.reason} (the soak's time ran out while it failed)"
                return Decision(Action.ROLLBACK if verdict.severity is Severity.CRITICAL
                                else Action.STEP_BACK, why)
            return Decision(Action.HOLD, f"{label}: {verdict.reason}; soak extension used up")
        return decision

    def _decide(self, verdict: Verdict, now: float) -> Decision:
        self.checks += 1
        self.history.append(verdict.outcome.value)
        elapsed = self.elapsed(now)
        if verdict.outcome is Outcome.ERROR:
            self.errors += 1
            if self.errors >= self.budget.consecutive_error_limit:
                why = (f"{self.step_name}: {self.errors} checks in a row could not be measured "
                       f"({verdict.reason})")
                return Decision(Action.HOLD if self.validation else Action.ROLLBACK, why)
            return Decision(Action.CONTINUE, verdict.reason)
        self.errors = 0
        if verdict.outcome is Outcome.FAIL:
            self.failures += 1
            if verdict.severity is Severity.HOLD:
                label = "validate" if self.validation else self.step_name
                return Decision(Action.HOLD, f"{label}: {verdict.reason}")
            if self.failures >= self.budget.failure_limit:
                why = f"{self.step_name}: {verdict.reason} ({self.failures} checks in a row failed)"
                if self.validation:
                    return Decision(Action.HOLD, f"validate failed: {verdict.reason}")
                if verdict.severity is Severity.CRITICAL:
                    return Decision(Action.ROLLBACK, why)
                return Decision(Action.STEP_BACK, why)
            return Decision(Action.CONTINUE, verdict.reason)
        if verdict.outcome is Outcome.PASS:
            self.failures = 0
            if elapsed >= self.soak_seconds:
                return Decision(Action.PROMOTE, verdict.reason)
            return Decision(Action.CONTINUE, verdict.reason)
        # inconclusive: the streak stands, the soak may be extended
        if elapsed >= self.soak_seconds:
            self.late_inconclusive += 1
            if elapsed >= self.deadline_seconds or self.late_inconclusive > self.budget.inconclusive_limit:
                label = "validate" if self.validation else self.step_name
                return Decision(Action.HOLD, f"{label}: {verdict.reason}; soak extension used up")
        return Decision(Action.CONTINUE, verdict.reason)


REQUESTS_PER_TRANSACTION = 3
"""API calls one synthetic transaction makes at least (create, one status poll, the audio)."""


def synthetic_top_up(needed: int, real_rate: float, seconds_left: float, rate: float,
                     interval: float, used: int, most: int,
                     requests_per_transaction: float = REQUESTS_PER_TRANSACTION) -> int:
    """Synthetic transactions to run before the next look: the judge's shortfall that real
    traffic will not fill in the soak's time left, at most `rate` a second over one interval
    and `most` per step in all. Zero when real traffic will fill it."""
    shortfall = needed - real_rate * max(seconds_left, 0.0)
    if needed <= 0 or shortfall <= 0:
        return 0
    wanted = math.ceil(shortfall / max(requests_per_transaction, 1.0))
    return max(0, min(wanted, math.ceil(rate * interval), most - used))

