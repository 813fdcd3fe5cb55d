"""The executor: apply a step, wait out DNS and metric lag, soak while judging, then act.

Every step ends in one of: promoted, held, rolled back, awaiting approval (or complete).
Critical failures (5xx, DLQ growth, alarms, lost capacity) roll back fully once the plan's
failure limit is reached; soft ones (latency, queue age, traffic share) step back one phase
and hold. The lease is renewed before every action, so a run that lost it stops moving
traffic. Only ordinary exceptions release the lease: a crash leaves it to expire, and
`resume` takes over from live weights, never from stale counters.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum

from migration.engine import EC2, FARGATE, Engine
from migration.exceptions import ApprovalRequiredError, DriftError, LockHeldError, PlanError
from migration.health import merge_windows
from migration.judge import (
    FailureStreak,
    LaneWindow,
    Measurements,
    Outcome,
    Severity,
    Verdict,
    judge,
    judge_probe,
)
from migration.plan import Step, weights_for
from migration.router import check_weights, fargate_percent

DLQ_LOOKBACK_SECONDS = 300


class Status(StrEnum):
    PROMOTED = "promoted"
    COMPLETE = "complete"
    HELD = "held"
    ROLLED_BACK = "rolled-back"
    AWAITING_APPROVAL = "awaiting-approval"
    DRY_RUN = "dry-run"


@dataclass
class StepResult:
    status: Status
    step: str | None
    weights: dict[str, int]
    reason: str
    verdicts: list[dict] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"status": self.status.value, "step": self.step, "weights": self.weights,
                "reason": self.reason, "verdicts": self.verdicts, "actions": self.actions}


class Executor:
    def __init__(self, engine: Engine):
        self.e = engine

    # --- public commands ------------------------------------------------------------------

    def advance(self, to_percent: int | None = None, dry_run: bool = False) -> StepResult:
        """Apply the next step (or the step to `to_percent`) and soak it."""
        live, step = self._next(to_percent)
        if step is None:
            return StepResult(Status.COMPLETE, None, live, "all traffic is already on Fargate")
        if dry_run:
            return self._describe(step, live)
        self._require_approval(step)
        with self._lease():
            return self._execute(step, live)

    def run(self, dry_run: bool = False) -> StepResult:
        """Advance through every remaining step, stopping at gates, holds and rollbacks."""
        if dry_run:
            live, _ = self._next(None)
            rows = self.e.plan.timeline(fargate_percent(live))
            actions = [f"{r['step']}: set weights {r['weights']}, soak {r['soak_seconds']:.0f} s"
                       + (" (needs approval)" if r["approval"] else "") for r in rows]
            return StepResult(Status.DRY_RUN, None, live, "nothing changed", actions=actions)
        with self._lease():
            self.e.ledger.write_state(mode="run", plan=self.e.plan.name)
            return self._run_loop()

    def rollback(self, reason: str = "requested by operator", dry_run: bool = False) -> StepResult:
        """All traffic back to EC2 through Route 53; harmless when already there."""
        live = self.e.direct_router.current()
        target = weights_for(0)
        if dry_run:
            return StepResult(Status.DRY_RUN, "rollback", live, "nothing changed",
                              actions=[f"scale EC2 to at least {self.e.ec2_capacity.api} if reduced",
                                       f"set weights {live} -> {target} in one change batch",
                                       "read the records back"])
        # A person rolling back must win over a stuck or running executor: take the lease.
        self.e.ledger.acquire_forcibly()
        try:
            return self._rollback_now(reason)
        finally:
            self.e.ledger.release()

    def resume(self) -> StepResult:
        """Take over a crashed run: re-read live weights, alarms and capacity, then act."""
        with self._lease():
            state = self.e.ledger.read_state()
            live = self.e.router.current()
            firing, problems = self.e.firing(), self.e.problems(FARGATE)
            self.e.ledger.append("resume", live=live, previous=state.get("status"),
                                 alarms=list(firing), problems=problems)
            self.e.ledger.write_state(weights=live)
            if firing or problems:
                return self._rollback_now("resume found " + "; ".join(
                    [f"alarm {a} in ALARM" for a in firing] + problems))
            percent = fargate_percent(live)
            if percent > 0:
                step = self.e.plan.step_for_percent(percent)
                if step is None:
                    return self._hold(None, live, f"live weights send {percent}% to Fargate, "
                                      "which is no step of the plan: a person decides")
                self._emit("resume", step=step.name, weights=live)
                self._wait(self.e.plan.metric_lag_seconds)
                result = self._soak(step, settled_at=self.e.now() - self.e.plan.metric_lag_seconds)
                if result.status is not Status.PROMOTED or state.get("mode") != "run":
                    return result
            return self._run_loop() if state.get("mode") == "run" else self._execute_next(live)

    def approve(self, step_name: str | None = None) -> str:
        """Open the approval gate of a step (the next gated one by default)."""
        live = self.e.router.current()
        if step_name is None:
            _, step = self._next(None)
            gated = [s for s in self.e.plan.steps if s.approval and (step is None or s.percent >= step.percent)]
            if not gated:
                raise PlanError("no remaining step of the plan needs approval")
            step_name = gated[0].name
        self.e.plan.step_named(step_name)
        approvals = sorted(set(self.e.ledger.read_state().get("approvals", [])) | {step_name})
        self.e.ledger.write_state(approvals=approvals)
        self.e.ledger.append("approval", step=step_name, weights=live)
        return step_name

    # --- steps ----------------------------------------------------------------------------

    def _next(self, to_percent: int | None) -> tuple[dict[str, int], Step | None]:
        live = self.e.router.current()
        missing = [s for s in (EC2, FARGATE) if s not in live]
        if missing:
            raise PlanError(f"no weighted record for {', '.join(missing)}: refusing to move traffic")
        self._check_drift(live)
        percent = fargate_percent(live)
        if to_percent is not None:
            if not 1 <= to_percent <= 100:
                raise PlanError(f"shift --to takes 1..100 (use rollback for 0), got {to_percent}")
            check_weights(weights_for(to_percent))
            step = self.e.plan.step_for_percent(to_percent) or Step(
                f"shift-{to_percent}", to_percent, self.e.plan.shift_steps[0].soak_seconds)
            return live, step
        if percent == 0 and self.e.ledger.read_state().get("validated"):
            return live, self.e.plan.shift_steps[0]
        return live, self.e.plan.next_step(percent)

    def _check_drift(self, live: dict[str, int]) -> None:
        expected = self.e.ledger.read_state().get("weights")
        if expected and {k: live.get(k) for k in expected} != expected:
            raise DriftError(f"live weights {live} differ from the last weights this tool set "
                             f"{expected}: someone changed Route 53 by hand; check, then rollback "
                             "or reconcile")

    def _require_approval(self, step: Step) -> None:
        if step.approval and step.name not in self.e.ledger.read_state().get("approvals", []):
            raise ApprovalRequiredError(f"step {step.name} needs approval: "
                                        f"run `soundbite migrate approve --step {step.name}`")

    def _run_loop(self) -> StepResult:
        while True:
            live = self.e.router.current()
            _, step = self._next(None)
            if step is None:
                self.e.ledger.write_state(status=Status.COMPLETE.value, mode="done")
                return StepResult(Status.COMPLETE, None, live, "all traffic is on Fargate")
            try:
                self._require_approval(step)
            except ApprovalRequiredError as exc:
                self.e.ledger.write_state(status=Status.AWAITING_APPROVAL.value, step=step.name)
                self.e.ledger.append("awaiting-approval", step=step.name)
                return StepResult(Status.AWAITING_APPROVAL, step.name, live, str(exc))
            result = self._execute(step, live)
            if result.status is not Status.PROMOTED:
                return result

    def _execute_next(self, live: dict[str, int]) -> StepResult:
        _, step = self._next(None)
        if step is None:
            return StepResult(Status.COMPLETE, None, live, "all traffic is on Fargate")
        self._require_approval(step)
        return self._execute(step, live)

    def _execute(self, step: Step, live: dict[str, int]) -> StepResult:
        if step.is_validation:
            return self._validate(step, live)
        target = step.weights
        self.e.ledger.renew()
        self.e.ledger.append("shift", step=step.name, before=live, after=target)
        self._emit("shift", step=step.name, weights=target)
        self.e.router.set_weights(target)
        self.e.router.verify(target)
        self.e.ledger.write_state(status="soaking", step=step.name, weights=target)
        self._wait(self.e.plan.ttl_wait_seconds)
        settled = self.e.now()
        self._wait(self.e.plan.metric_lag_seconds)
        return self._soak(step, settled_at=settled)

    def _soak(self, step: Step, settled_at: float) -> StepResult:
        plan, lag = self.e.plan, self.e.plan.metric_lag_seconds
        start, late_inconclusive, verdicts = self.e.now(), 0, []
        streak = FailureStreak(plan.failure_limit)
        dlq_at_start = self._dlq(start - lag - DLQ_LOOKBACK_SECONDS, start - lag)
        while True:
            self._wait(plan.analysis_interval_seconds)
            now = self.e.now()
            verdict = judge(self._measure(step, settled_at, now - lag, dlq_at_start), self.e.judge_config)
            verdicts.append(self._record(step, verdict))
            elapsed = now - start
            if streak.record(verdict):
                why = f"{step.name}: {verdict.reason} ({streak.count} checks in a row failed)"
                if verdict.severity is Severity.CRITICAL:
                    return self._with(self._rollback_now(why), verdicts)
                return self._with(self._step_back(step, why), verdicts)
            elif verdict.outcome is Outcome.PASS and elapsed >= step.soak_seconds:
                self.e.ledger.write_state(status=Status.PROMOTED.value, step=step.name, weights=step.weights)
                self.e.ledger.append("promoted", step=step.name, reason=verdict.reason)
                return StepResult(Status.PROMOTED, step.name, step.weights, verdict.reason, verdicts)
            elif verdict.outcome is Outcome.INCONCLUSIVE and elapsed >= step.soak_seconds:
                late_inconclusive += 1
                if (elapsed >= step.soak_seconds + plan.max_soak_extension_seconds
                        or late_inconclusive > plan.inconclusive_limit):
                    return self._with(self._hold(step, step.weights, f"{step.name}: {verdict.reason}; "
                                                 "soak extension used up"), verdicts)

    def _validate(self, step: Step, live: dict[str, int]) -> StepResult:
        """The validate step: probes of the direct names, no public traffic on Fargate."""
        start, verdicts = self.e.now(), []
        streak = FailureStreak(self.e.plan.failure_limit)
        canary, baseline = LaneWindow(), LaneWindow()
        self.e.ledger.renew()
        self.e.ledger.append("validate", step=step.name, weights=live)
        while True:
            self._wait(self.e.plan.analysis_interval_seconds)
            if self.e.probe is not None:
                windows = self.e.probe.measure()
                canary = merge_windows(canary, windows.get(FARGATE, LaneWindow()))
                baseline = merge_windows(baseline, windows.get(EC2, LaneWindow()))
            verdict = judge_probe(canary, baseline, self.e.judge_config)
            problems = self.e.problems(FARGATE) + self.e.problems(EC2)
            if problems:  # a stack that lost processes is not valid, whatever its probes say
                verdict = Verdict(Outcome.FAIL, "; ".join(problems), Severity.CRITICAL)
            verdicts.append(self._record(step, verdict))
            elapsed = self.e.now() - start
            if streak.record(verdict):
                return self._with(self._hold(step, live, f"validate failed: {verdict.reason}"), verdicts)
            elif verdict.outcome is Outcome.PASS and elapsed >= step.soak_seconds:
                self.e.ledger.write_state(status=Status.PROMOTED.value, step=step.name,
                                          validated=True, weights=live)
                self.e.ledger.append("promoted", step=step.name, reason=verdict.reason)
                return StepResult(Status.PROMOTED, step.name, live, verdict.reason, verdicts)
            elif elapsed >= step.soak_seconds + self.e.plan.max_soak_extension_seconds:
                return self._with(self._hold(step, live, f"validate: {verdict.reason}"), verdicts)

    # --- actions --------------------------------------------------------------------------

    def _rollback_now(self, reason: str) -> StepResult:
        router, actions = self.e.direct_router, []
        before = router.current()
        if self.e.ec2_scaler is not None and self.e.ec2_scaler.ensure_at_least(self.e.ec2_capacity.api):
            actions.append(f"scaled EC2 up to {self.e.ec2_capacity.api}")
        target = weights_for(0)
        if before != target:
            router.set_weights(target)
            actions.append(f"weights {before} -> {target}")
        else:
            actions.append("weights already all on EC2")
        router.verify(target)
        self.e.ledger.write_state(status=Status.ROLLED_BACK.value, weights=target, reason=reason,
                                  validated=False, approvals=[], mode="stopped")
        self.e.ledger.append("rollback", reason=reason, before=before, after=target, actions=actions)
        self._emit("rollback", reason=reason, weights=target)
        return StepResult(Status.ROLLED_BACK, "rollback", target, reason, actions=actions)

    def _step_back(self, step: Step, reason: str) -> StepResult:
        target = weights_for(self.e.plan.previous_percent(step.percent))
        self.e.ledger.renew()
        self.e.router.set_weights(target)
        self.e.router.verify(target)
        self.e.ledger.append("step-back", step=step.name, reason=reason, after=target)
        return self._hold(step, target, f"stepped back to {target}: {reason}")

    def _hold(self, step: Step | None, weights: dict[str, int], reason: str) -> StepResult:
        self.e.ledger.write_state(status=Status.HELD.value, weights=weights, reason=reason, mode="stopped")
        self.e.ledger.append("held", step=step.name if step else None, reason=reason)
        self._emit("held", reason=reason)
        return StepResult(Status.HELD, step.name if step else None, weights, reason)

    # --- helpers --------------------------------------------------------------------------

    def _measure(self, step: Step, start: float, end: float, dlq_at_start: float | None) -> Measurements:
        metrics = self.e.metrics
        canary = metrics.lane(FARGATE, start, end) if metrics else LaneWindow()
        baseline = metrics.lane(EC2, start, end) if metrics else LaneWindow()
        return Measurements(
            canary=canary, baseline=baseline, intended_share=step.percent / 100,
            window_start=start, window_end=end,
            dlq_messages=self._dlq(start, end), dlq_at_start=dlq_at_start,
            oldest_message_seconds=metrics.oldest_message_seconds(start, end) if metrics else None,
            alarms_firing=self.e.firing(), capacity_problems=tuple(self.e.problems(FARGATE)),
        )

    def _dlq(self, start: float, end: float) -> float | None:
        return self.e.metrics.dlq_messages(start, end) if self.e.metrics else None

    def _record(self, step: Step, verdict: Verdict) -> dict:
        data = verdict.to_dict()
        self.e.ledger.append("verdict", step=step.name, verdict=data)
        self._emit("verdict", step=step.name, outcome=verdict.outcome.value, reason=verdict.reason)
        return data

    def _wait(self, seconds: float) -> None:
        """Sleep in slices short enough to keep the lease alive, renewing between them."""
        remaining, slice_ = seconds, max(self.e.ledger.lease_seconds / 3, 0.001)
        while remaining > 0:
            step = min(remaining, slice_)
            self.e.sleep(step)
            remaining -= step
            self.e.ledger.renew()

    def _describe(self, step: Step, live: dict[str, int]) -> StepResult:
        plan = self.e.plan
        if step.is_validation:
            actions = [f"probe the direct names for {step.soak_seconds:.0f} s; weights stay {live}"]
            if self.e.probe is None:
                actions.append("no direct names configured (direct_urls): validate will hold")
        else:
            actions = [f"set weights {live} -> {step.weights} in one change batch, wait for INSYNC",
                       f"wait {plan.ttl_wait_seconds:.0f} s (DNS TTL) and {plan.metric_lag_seconds:.0f} s (metric lag)",
                       f"soak {step.soak_seconds:.0f} s, judging every {plan.analysis_interval_seconds:.0f} s; "
                       f"roll back after {plan.failure_limit} failed checks"]
        if step.approval:
            actions.insert(0, "needs approval first")
        return StepResult(Status.DRY_RUN, step.name, live, "nothing changed", actions=actions)

    def _emit(self, kind: str, **data) -> None:
        self.e.on_event({"kind": kind, "at": self.e.now(), **data})

    @staticmethod
    def _with(result: StepResult, verdicts: list[dict]) -> StepResult:
        result.verdicts = verdicts
        return result

    @contextmanager
    def _lease(self):
        self.e.ledger.acquire()
        try:
            yield
        except Exception:
            self.e.ledger.release()
            raise
        self.e.ledger.release()


__all__ = ["Executor", "LockHeldError", "Status", "StepResult"]
