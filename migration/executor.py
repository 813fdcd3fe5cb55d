"""The executor: apply a step, wait out DNS and metric lag, soak while judging, then act.

Fail-safe rules, in order of precedence:

1. An operator's rollback is final. It moves the weights through Route 53 alone, then
   records the migration `aborted` (sticky until `retry`). The rollback bumps the lease's
   fencing token, so the run it interrupted can neither write the ledger nor move traffic
   again: every traffic move re-reads Route 53 and every write checks the token.
2. Traffic on Fargate is always judged, held with a stated reason, or waiting for approval.
   A provider that cannot be read is an `error` check, and too many in a row roll back; a
   control-plane failure after traffic moved rolls back through Route 53 rather than leave
   the canary unjudged.
3. Steps are durable: the ledger records each step's outcome, and `advance`, `run` and
   `resume` continue from the last promoted step. A held step is soaked again, never skipped.
   A shift is written ahead (`pending`) before Route 53 changes, so `resume` after a crash
   knows whether the change landed.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from enum import StrEnum

from migration import validation
from migration.analysis import Action, Analysis
from migration.engine import EC2, FARGATE, Engine
from migration.evidence import CONTROL_PLANE_ERRORS, Evidence, one_line
from migration.exceptions import (
    AbortedError,
    ApprovalRequiredError,
    DriftError,
    LockHeldError,
    MigrationError,
    PlanError,
    StoodDownError,
    WeightsChangedError,
)
from migration.judge import Outcome, Severity, Verdict, classify_alarm, judge, unmeasured
from migration.ledger import ABORTED
from migration.plan import Step, weights_for
from migration.preflight import fargate_needed
from migration.router import check_weights, fargate_percent, same_weights
from migration.router import describe as _weights
from migration.top_up import TopUp
from soundbite import spec

ROLLBACK_WRITES = 3
"""How often a rollback writes its weights when a change lands between its write and its read."""
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
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"status": self.status.value, "step": self.step, "weights": self.weights,
                "reason": self.reason, "verdicts": self.verdicts, "actions": self.actions,
                "warnings": self.warnings}


class Executor:
    def __init__(self, engine: Engine):
        self.e = engine
        self.ledger = engine.ledger
        self._last: dict | None = None
        """The last verdict, as evidence for the events a person is notified of."""
        self.evidence = Evidence(engine, wait=self._wait)
        self._rolling_back = False
        self._sick_baseline: list[str] = []
        """What resume found wrong with the baseline, before anything could fail."""
        engine.direct_router.on_poll = self.ledger.keep_alive

    # --- public commands ------------------------------------------------------------------

    def advance(self, to_percent: int | None = None, dry_run: bool = False) -> StepResult:
        """Apply the next step (or the step to `to_percent`) and soak it."""
        if dry_run:
            live, step = self._next(to_percent)
            if step is None:
                return StepResult(Status.COMPLETE, None, live, "all traffic is already on Fargate")
            return self._describe(step, live)
        with self._lease():
            live, step = self._next(to_percent)
            if step is None:
                return StepResult(Status.COMPLETE, None, live, "all traffic is already on Fargate")
            self._require_approval(step)
            return self._guarded(step, live)

    def run(self, dry_run: bool = False) -> StepResult:
        """Advance through every remaining step, stopping at gates, holds and rollbacks."""
        if dry_run:
            live, _ = self._next(None)
            done = set(self._promoted())
            rows = [r for r in self.e.plan.timeline(fargate_percent(live)) if r["step"] not in done]
            actions = [f"{r['step']}: set weights {_weights(r['weights'])}, soak {r['soak_seconds']:.0f} s"
                       + (" (needs approval)" if r["approval"] else "") for r in rows]
            return StepResult(Status.DRY_RUN, None, live, "nothing changed", actions=actions)
        with self._lease():
            self.ledger.commit("run", state={"mode": "run", "plan": self.e.plan.name})
            return self._run_loop()

    def rollback(self, reason: str = "requested by operator", dry_run: bool = False,
                 wait_capacity: bool = False) -> StepResult:
        """All traffic back to EC2 through Route 53 first; then the abort, then EC2 capacity.

        Needs only Route 53 to make traffic safe: a ledger or Auto Scaling failure is a
        warning after the weights are already back. Harmless when already there."""
        live = self.e.direct_router.current()
        target = weights_for(0)
        if dry_run:
            return StepResult(Status.DRY_RUN, "rollback", live, "nothing changed", actions=[
                f"set weights {_weights(live)} -> {_weights(target)} in one change batch, read them back",
                "record the migration aborted (refuses advance/run/shift/resume until retry)",
                f"scale EC2 to at least {self.e.ec2_capacity.api} API and "
                f"{self.e.ec2_capacity.worker} worker instances if reduced"
                + (f" (configured capacity unknown: {self.e.capacity_problem})"
                   if self.e.capacity_problem else "")])
        result = self._rollback_now(reason, by_operator=True, live=live, outcome="aborted")
        if wait_capacity:
            result.actions.append(self._wait_for_capacity())
        return result

    def resume(self) -> StepResult:
        """Take over a crashed run: settle its pending shift, re-read alarms, then judge."""
        with self._lease():
            self._sick_baseline = []
            try:
                taken = self._take_over()
            except (StoodDownError, AbortedError, ApprovalRequiredError):
                raise
            except Exception as exc:  # noqa: BLE001 - a crashed run's canary is not left unjudged
                if self._sick_baseline:  # never roll back onto it, not even to fail safe
                    return StepResult(Status.HELD, None, {}, (
                        f"resume found the baseline unhealthy ({'; '.join(self._sick_baseline)}) and "
                        f"could not record the hold ({one_line(exc)}): a person decides"))
                return self._fail_safe(None, exc)
            if isinstance(taken, StepResult):
                return taken
            if taken is None:
                return self._run_loop()
            return self._guarded(*taken)

    def _take_over(self) -> StepResult | tuple[Step, dict[str, int]] | None:
        """Resume up to its first judgement: the interrupted shift settled, alarms and health
        re-read. A decision already (held, rolled back, complete), the step to judge on, or
        None to go on with the interrupted `run`."""
        state = self.ledger.read_state()
        live = self.e.router.current()
        try:
            adopted = self._settle_pending(state, live)
        except DriftError as exc:  # neither before nor after: a person decides
            return self._hold_for_a_person(None, exc, clear_pending=False)
        firing, problems, unreadable = self.evidence.health_now()
        sick_baseline = [a.name for a in map(classify_alarm, firing) if a.severity is Severity.HOLD]
        self._sick_baseline = [f"alarm {a} in ALARM" for a in sick_baseline]
        self._log("resume", state={"weights": live, "pending": None}, shown={"weights": live},
                  live=live, previous=state.get("status"), adopted=adopted, alarms=list(firing),
                  problems=problems, unreadable=unreadable)
        if sick_baseline:  # never roll back onto a sick EC2 stack: a person decides
            return self._hold(None, live, "resume found the baseline unhealthy: " + "; ".join(
                f"alarm {a} in ALARM" for a in sick_baseline))
        if firing or problems:
            return self._rollback_now("resume found " + "; ".join(
                [f"alarm {a} in ALARM" for a in firing] + problems))
        percent = fargate_percent(live)
        if percent > 0 and self.e.plan.step_for_percent(percent) is None:
            return self._hold(None, live, f"live weights send {percent}% to Fargate, "
                              "which is no step of the plan: a person decides")
        if state.get("mode") == "run":
            return None
        try:
            _, step = self._next(None)
        except (DriftError, PlanError) as exc:
            return self._hold_for_a_person(None, exc)
        if step is None:
            return StepResult(Status.COMPLETE, None, live, "all traffic is on Fargate")
        self._require_approval(step)
        return step, live

    def retry(self) -> dict:
        """Clear an abort (Argo Rollouts' retry): the migration starts again from validate."""
        with self._lease(refuse_aborted=False):
            state = self.ledger.read_state()
            live = self.e.router.current()
            if state.get("status") != ABORTED:
                raise PlanError(f"nothing to retry: the migration is {state.get('status') or 'not started'}, "
                                "not aborted")
            if fargate_percent(live) != 0:
                raise DriftError(f"live weights {_weights(live)} still send traffic to Fargate after the abort: "
                                 "run rollback first")
            self.ledger.commit("retry", state={
                "status": "ready", "abort": None, "promoted": [], "steps": {}, "approvals": [],
                "mode": "stopped", "weights": live, "pending": None}, over_abort=True,
                previous_abort=state.get("abort"))
            return {"status": "ready", "weights": live, "previous_abort": state.get("abort"),
                    "reason": "abort cleared: the next advance or run starts again from validate"}

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
        self.ledger.commit("approval", state=lambda current: {
            "approvals": sorted(set(current.get("approvals") or []) | {step_name})},
            step=step_name, weights=live)
        return step_name

    def next_move(self, to_percent: int | None = None) -> dict[str, int] | None:
        """The weights the next step (or the step to `to_percent`) would set; None when it
        moves no traffic (validate, a held step soaked again, nothing left)."""
        live, step = self._next(to_percent)
        if step is None or step.is_validation or same_weights(live, step.weights):
            return None
        return step.weights

    # --- where a run stands -----------------------------------------------------------------

    def _promoted(self) -> list[str]:
        state = self.ledger.read_state()
        promoted = list(state.get("promoted", []))
        if state.get("validated") and "validate" not in promoted:
            promoted.append("validate")
        return promoted

    def _refuse_if_aborted(self) -> None:
        state = self.ledger.read_state()
        abort = state.get("abort")
        if state.get("status") == ABORTED:
            who = (abort or {}).get("by", "someone")
            why = (abort or {}).get("reason", "no reason recorded")
            raise AbortedError(f"the migration of {self.e.stack} was aborted by {who}: {why}; "
                               "run `soundbite migrate retry` to start again")

    def _next(self, to_percent: int | None) -> tuple[dict[str, int], Step | None]:
        live = self.e.router.current()
        missing = [s for s in (EC2, FARGATE) if s not in live]
        if missing:
            raise PlanError(f"no weighted record for {', '.join(missing)}: refusing to move traffic")
        if self.e.plan_disagreement:
            raise PlanError(f"refusing to move traffic: {self.e.plan_disagreement}")
        state = self.ledger.read_state()
        if state.get("pending"):
            raise DriftError(f"a previous run was interrupted while shifting {state['pending'].get('step')}: "
                             "run `soundbite migrate resume` first")
        self._check_drift(live, state)
        percent = fargate_percent(live)
        if to_percent is not None:
            if not 1 <= to_percent <= 100:
                raise PlanError(f"shift --to takes 1..100 (use rollback for 0), got {to_percent}")
            check_weights(weights_for(to_percent))
            step = self.e.plan.step_for_percent(to_percent)
            if step is None:  # Fargate's capacity is sized per phase: no phase, no sizing
                steps = ", ".join(str(s.percent) for s in self.e.plan.shift_steps)
                raise PlanError(f"shift --to {to_percent}: no step of the plan ({steps}) and so no "
                                "phase of the stack sizes Fargate for it; pick one of those")
            return live, step
        promoted = set(self._promoted())
        for step in self.e.plan.steps:
            if step.name in promoted:
                continue
            if step.is_validation and percent == 0:
                return live, step
            if not step.is_validation and step.percent >= percent:
                return live, step
        return live, None

    def _check_drift(self, live: dict[str, int], state: dict) -> None:
        expected = state.get("weights")
        if expected and not same_weights(live, expected):
            raise DriftError(f"live weights {_weights(live)} differ from the last weights this tool set "
                             f"{_weights(expected)}: someone changed Route 53 by hand; check, then rollback "
                             "or reconcile")

    def _require_approval(self, step: Step) -> None:
        """A gate not yet opened is recorded (and notified) as a wait for a person, then raised.

        A step the judge stepped back from is gated too: `advance` would raise traffic to the
        share that just failed, so a person opens it again (or rolls back)."""
        state = self.ledger.read_state()
        approvals = state.get("approvals") or []
        # any stepped-back step at or below this one's share, not opened again since
        backed = [(name, outcome) for name, outcome in (state.get("steps") or {}).items()
                  if outcome.get("stepped_back") and name not in approvals and self._in_plan(name)
                  and self.e.plan.step_named(name).percent <= step.percent]
        if backed:
            name, outcome = backed[0]
            reason = (f"step {name} was stepped back ({outcome.get('reason')}): find the cause, "
                      f"then `soundbite migrate approve --step {name}` to try it again, or "
                      "`soundbite migrate rollback`")
        elif step.name in approvals:
            return
        elif step.approval:
            reason = (f"step {step.name} needs approval: "
                      f"run `soundbite migrate approve --step {step.name}`")
        else:
            return
        self._log("awaiting-approval", state={
            "status": Status.AWAITING_APPROVAL.value, "step": step.name}, step=step.name,
            reason=reason)
        raise ApprovalRequiredError(reason)

    def _settle_pending(self, state: dict, live: dict[str, int]) -> str | None:
        """A shift written ahead but never confirmed: did Route 53 take it?"""
        pending = state.get("pending")
        if not pending:
            self._check_drift(live, state)
            return None
        if same_weights(live, pending["after"]):
            return f"the interrupted shift to {_weights(pending['after'])} reached Route 53"
        if same_weights(live, pending["before"]):
            return f"the interrupted shift to {_weights(pending['after'])} never reached Route 53"
        raise DriftError(f"live weights {_weights(live)} are neither before {_weights(pending['before'])} "
                         f"nor after {_weights(pending['after'])} the interrupted shift: check, then rollback or reconcile")

    # --- steps ----------------------------------------------------------------------------

    def _run_loop(self) -> StepResult:
        while True:
            try:
                live, step = self._next(None)
                if step is None:
                    self._log("complete", state={"status": Status.COMPLETE.value, "mode": "done"},
                              weights=live)
                    return StepResult(Status.COMPLETE, None, live, "all traffic is on Fargate")
                self._require_approval(step)
            except ApprovalRequiredError as exc:
                return StepResult(Status.AWAITING_APPROVAL, step.name, live, str(exc))
            except (DriftError, PlanError) as exc:  # a person's to decide: never rolled back over
                return self._hold_for_a_person(None, exc)
            except CONTROL_PLANE_ERRORS as exc:  # between steps: Fargate is not left unjudged either
                if isinstance(exc, (StoodDownError, AbortedError)):
                    raise
                return self._fail_safe(None, exc)
            result = self._guarded(step, live)
            if result.status is not Status.PROMOTED:
                return result

    def _guarded(self, step: Step, live: dict[str, int]) -> StepResult:
        """Run one step. Any failure with traffic on Fargate rolls back (a dependency's, or a
        fault of our own: a judge that crashed cannot be trusted to judge on); an interrupt
        (Ctrl-C, SIGTERM) holds with its reason, for `resume` or `rollback` to pick up."""
        try:
            return self._execute(step, live)
        except (StoodDownError, AbortedError):
            raise
        except KeyboardInterrupt:
            self._interrupted(step)
            raise
        except Exception as exc:  # noqa: BLE001 - whatever failed, Fargate is not left unjudged
            return self._fail_safe(step, exc)

    def _fail_safe(self, step: Step | None, exc: Exception) -> StepResult:
        """An error with traffic on Fargate rolls back through Route 53 (its outcome `error`);
        with none there, the error is the whole story and is raised."""
        try:
            now_live = self.e.direct_router.current()
        except CONTROL_PLANE_ERRORS:
            now_live = None
        if now_live is not None and fargate_percent(now_live) == 0:
            raise exc  # nothing on Fargate: the error is the whole story
        failure = ("control-plane failure" if isinstance(exc, CONTROL_PLANE_ERRORS)
                   else f"internal error ({type(exc).__name__})")
        where = step.name if step else "between steps"
        try:
            return self._rollback_now(f"{where}: {failure}, rolled back rather than leave Fargate "
                                      f"unjudged: {one_line(exc)}", step=step and step.name,
                                      outcome="error")
        except Exception as failed:  # noqa: BLE001 - the operator must hear it, whatever it was
            message = (f"{where}: {one_line(exc)}; the rollback failed too ({one_line(failed)}): "
                       f"Fargate may still carry traffic ({_weights(now_live) if now_live else 'unknown'}): "
                       "run `soundbite migrate rollback` now")
            self._record_failed_rollback(message, now_live)
            raise MigrationError(message) from failed

    def _record_failed_rollback(self, message: str, live: dict[str, int] | None) -> None:
        """Best effort: the migration recorded aborted (nothing advances or resumes onto the
        canary; `retry` refuses while Fargate has traffic) and the rollback hooks told, so an
        unattended run that could not roll back is not silent."""
        with contextlib.suppress(Exception):
            self.ledger.commit("rollback-failed", state={
                "status": ABORTED, "mode": "stopped", "abort": {
                    "by": f"judge ({self.ledger.owner})", "at": self.e.now(), "reason": message}},
                reason=message, weights=live)
        self._emit("rollback", failed=True, reason=message, weights=live, evidence=self._last)

    def _interrupted(self, step: Step) -> None:
        """Record why nobody judges the canary now (best effort: a second interrupt or a
        failing ledger leaves the lease to expire, and `resume` takes over as after a crash).
        A shift caught mid-change stays pending: `resume` settles it first. Nothing is
        recorded when no traffic is on Fargate, or when the interrupt cut a rollback short: a
        hold would stand in for the abort it had not yet written, and let the next `advance`
        move traffic onto the failed canary; unrecorded, the ledger's weights disagree with
        Route 53's and every move is refused until a person looks."""
        if self._rolling_back:
            return
        with contextlib.suppress(KeyboardInterrupt, *CONTROL_PLANE_ERRORS):
            try:
                live = self.e.direct_router.current()
            except CONTROL_PLANE_ERRORS as exc:  # hold anyway; the ledger keeps its weights
                live, share = None, f"an unknown share (Route 53 unreadable: {one_line(exc)})"
            else:
                if fargate_percent(live) == 0:
                    return
                share = f"{fargate_percent(live)}%"
            self._hold(step, live, f"interrupted during {step.name} (Ctrl-C or SIGTERM): nothing "
                       f"judges {share} on Fargate until `soundbite migrate resume` judges on or "
                       "`soundbite migrate rollback` moves it back")

    def _execute(self, step: Step, live: dict[str, int]) -> StepResult:
        if step.is_validation:
            return self._validate(step, live)
        if same_weights(live, step.weights):
            self._log("resoak", state={"status": "soaking", "step": step.name}, step=step.name,
                      weights=live)
        else:
            if fargate_percent(step.weights) > fargate_percent(live):
                stopped = self._capacity_first(step, live)
                if stopped is not None:  # held for tasks (this share stays), or rolled back
                    return stopped
            self._move(step.name, live, step.weights)
        self._waiting(step, "dns-ttl", self.e.plan.ttl_wait_seconds)
        settled = self.e.now()
        self._waiting(step, "metric-lag", self.e.plan.metric_lag_seconds)
        return self._soak(step, settled_at=settled)

    def _capacity_first(self, step: Step, live: dict[str, int]) -> StepResult | None:
        """Capacity before traffic, before every raise (each step of a `run` included). None
        when Fargate runs the tasks `step`'s phase needs (raising its ECS service first and
        waiting for them); else the step held with why (too few and nothing to raise, the
        raise failed or took too long, the tasks could not be counted), or rolled back when a
        critical alarm fires while it waits: the share already on Fargate stays judged."""
        head = f"not raising Fargate to {step.percent}%"
        try:
            running = self.e.running(FARGATE)
            if running is None and self.e.fargate_scaler is None:
                return None  # no ECS service named: nothing to count (preflight says so)
            if running is None:
                return self._hold(step, live, f"{head}: the ECS service {self.e.fargate_scaler.service} "
                                  f"in {self.e.fargate_scaler.cluster} was not found, so its tasks "
                                  "could not be counted")
            needed, detail = fargate_needed(self.e, step.percent)
        except CONTROL_PLANE_ERRORS as exc:
            return self._hold(step, live, f"{head}: its tasks could not be counted ({one_line(exc)})")
        if running >= needed:
            return None
        scaler = self.e.fargate_scaler
        if scaler is None:
            return self._hold(step, live, f"{head}: Fargate runs {running} task(s), {detail}")
        try:
            scaler.ensure_at_least(needed)
        except CONTROL_PLANE_ERRORS as exc:
            return self._hold(step, live, f"{head}: Fargate runs {running} task(s), {detail}, and its "
                              f"ECS service could not be raised ({one_line(exc)})")
        self._log("scale-out", step=step.name, running=running, tasks=needed,
                  reason=f"Fargate runs {running} task(s), {detail}: raising its ECS service first")
        self._emit("wait", step=step.name, what="fargate-capacity",
                   seconds=spec.FARGATE_SCALE_OUT_WAIT_SECONDS,
                   until=self.e.now() + spec.FARGATE_SCALE_OUT_WAIT_SECONDS)
        plan = self.e.plan
        blind_limit = plan.consecutive_error_limit * plan.analysis_interval_seconds
        seen = {"alarms": [], "read_at": self.e.now(), "cause": None}

        def ready() -> bool:
            """The tasks run; or the share Fargate already carries must come back: a critical
            alarm fired on it, or its alarms could not be read for as long as the soak lets
            checks in a row go unmeasured (it is judged while it waits, never left blind)."""
            firing, seen["cause"] = self.evidence.read(self.e.firing)
            if seen["cause"] is None:
                seen["read_at"] = self.e.now()
            seen["alarms"] = [a for a in firing or () if classify_alarm(a).severity is Severity.CRITICAL]
            counted = Evidence.attempt(lambda: self.e.running(FARGATE))  # uncounted: wait, then hold
            return bool(seen["alarms"]) or blind() or (counted is not None and counted >= needed)

        def blind() -> bool:
            return self.e.now() - seen["read_at"] >= blind_limit

        if not self._poll_until(ready, spec.FARGATE_SCALE_OUT_WAIT_SECONDS, self._wait):
            return self._hold(step, live, f"{head}: raised its ECS service to {needed} task(s), too few "
                              f"running after {spec.FARGATE_SCALE_OUT_WAIT_SECONDS:.0f} s")
        why = f"{step.name}: while Fargate's tasks were raised for it, "
        if seen["alarms"]:
            return self._rollback_now(why + "; ".join(f"alarm {a} in ALARM" for a in seen["alarms"]),
                                      step=step.name)
        if blind():
            return self._rollback_now(why + f"its alarms could not be read for {blind_limit:.0f} s "
                                      f"({seen['cause']})", step=step.name)
        return None

    def _poll_until(self, done, seconds: float, sleep) -> bool:
        """Poll `done()` every few seconds until it holds (True) or `seconds` pass (False)."""
        deadline = self.e.now() + seconds
        while not done():
            if self.e.now() >= deadline:
                return False
            sleep(min(5.0, self.e.plan.analysis_interval_seconds))
        return True

    def _waiting(self, step: Step, what: str, seconds: float) -> None:
        """A named wait a person can see (the live view counts it down)."""
        self._emit("wait", step=step.name, what=what, seconds=seconds, until=self.e.now() + seconds)
        self._wait(seconds)

    def _move(self, name: str, before: dict[str, int], after: dict[str, int]) -> None:
        """A fenced traffic move: written ahead, Route 53 re-read, lease checked after."""
        self._log("shift", state={"pending": {"step": name, "before": before, "after": after}},
                  shown={"step": name, "weights": after}, step=name, before=before, after=after)
        self._emit("wait", step=name, what="route53-insync", seconds=None, until=None)
        with self.ledger.heartbeat():
            try:
                self.e.router.set_weights(after, expect=before)
            except WeightsChangedError as exc:  # refused before sending: nothing of ours is out
                with contextlib.suppress(*CONTROL_PLANE_ERRORS):
                    self._hold_for_a_person(self.e.plan.step_named(name) if self._in_plan(name)
                                            else None, exc, clear_pending=True)
                raise
        try:
            self.ledger.renew()
            self.e.router.verify(after)
            self.ledger.commit("shifted", state={"status": "soaking", "step": name, "weights": after,
                                                 "pending": None}, step=name, weights=after)
        except StoodDownError:
            self._undo_in_flight(before, after)
            raise

    def _undo_in_flight(self, before: dict[str, int], after: dict[str, int]) -> None:
        """Our change landed after someone took over.

        After an abort (or with a state nobody can read) any share on Fargate is ours to
        remove, whatever Route 53 shows: a `pulumi up` writes its two records in separate
        calls, so a half-landed move matches neither side. Otherwise (another run took over)
        we put back what it decided, only if our change is still what Route 53 shows (a newer
        decision is never overwritten), and never to a higher Fargate share than ours (a step
        back that landed stays)."""
        try:
            aborted = self.ledger.read_state().get("status") == ABORTED
        except CONTROL_PLANE_ERRORS:
            aborted = True
        if aborted:
            restore, expect = weights_for(0), None
            with contextlib.suppress(*CONTROL_PLANE_ERRORS):  # unreadable: put it back anyway
                if fargate_percent(self.e.direct_router.current()) == 0:
                    return
        elif fargate_percent(before) > fargate_percent(after):
            return  # ours lowered Fargate's share: undoing it would raise it behind their back
        else:
            restore, expect = before, after
        with contextlib.suppress(StoodDownError):  # someone moved it since: theirs stands
            self.e.direct_router.set_weights(restore, expect=expect)
            with contextlib.suppress(*CONTROL_PLANE_ERRORS):
                self.ledger.commit("in-flight-undone", fenced=False, restored=restore,
                                   why="this run's change landed after a takeover")

    def _soak(self, step: Step, settled_at: float) -> StepResult:
        plan, lag = self.e.plan, self.e.plan.metric_lag_seconds
        analysis = Analysis.for_step(step, plan, started_at=self.e.now())
        self._emit("soak", step=step.name, seconds=step.soak_seconds,
                   until=analysis.started_at + step.soak_seconds,
                   deadline=analysis.started_at + analysis.deadline_seconds)
        dlq_at_start = Evidence.attempt(lambda: self.evidence.dlq(
            analysis.started_at - lag - DLQ_LOOKBACK_SECONDS, analysis.started_at - lag))
        verdicts, top_up = [], TopUp.for_soak(self.e)
        try:
            while True:
                self._wait(plan.analysis_interval_seconds)
                now = self.e.now()
                windows = analysis.windows(settled_at, now)
                measured, error = self.evidence.read(lambda w=windows: self.evidence.measure(
                    step, w, dlq_at_start, analysis.looks_planned))
                if measured is not None and top_up is not None:
                    if finished := top_up.finished():
                        self._log("synthetic", step=step.name, **finished)
                    measured = top_up.added_to(measured, windows)
                verdict = unmeasured(error) if error is not None else judge(measured, self.e.judge_config)
                verdicts.append(self._record(step, verdict))
                decision = analysis.observe(verdict, now)
                if decision.action is Action.CONTINUE:
                    if (verdict.outcome is Outcome.INCONCLUSIVE and measured is not None
                            and top_up is not None):
                        top_up.request(analysis, verdict, measured)
                    continue
                if decision.action is Action.PROMOTE:
                    return self._promote(step, step.weights, decision.reason, verdicts)
                if decision.action is Action.ROLLBACK:
                    return self._with(self._rollback_now(decision.reason, step=step.name), verdicts)
                if decision.action is Action.STEP_BACK:
                    return self._with(self._step_back(step, decision.reason), verdicts)
                return self._with(self._hold(step, step.weights, decision.reason), verdicts)
        finally:
            if top_up is not None:
                top_up.close()

    def _validate(self, step: Step, live: dict[str, int]) -> StepResult:
        """The validate step: transactions on both direct names (or, without clients, probes of
        their health path); no public traffic on Fargate."""
        analysis = Analysis.for_step(step, self.e.plan, started_at=self.e.now())
        self._log("validate", state={"status": "validating", "step": step.name},
                  step=step.name, weights=live)
        look = validation.look_for(self.e, self.evidence, analysis)
        verdicts = []
        while True:
            self._wait(self.e.plan.analysis_interval_seconds)
            with self.ledger.heartbeat():  # a synthetic transaction may wait a minute for ready
                verdict = look()
            verdicts.append(self._record(step, verdict))
            decision = analysis.observe(verdict, self.e.now())
            if decision.action is Action.CONTINUE:
                continue
            if decision.action is Action.PROMOTE:
                return self._promote(step, live, decision.reason, verdicts)
            return self._with(self._hold(step, live, decision.reason), verdicts)

    # --- actions --------------------------------------------------------------------------

    def _promote(self, step: Step, weights: dict[str, int], reason: str, verdicts: list[dict]) -> StepResult:
        promoted = sorted(set(self._promoted()) | {step.name}, key=self._order)
        self._log("promoted", state={
            "status": Status.PROMOTED.value, "step": step.name, "weights": weights,
            "promoted": promoted, "steps": self._outcome(step.name, "promoted", reason)},
            shown={"step": step.name, "reason": reason, "weights": weights, "evidence": self._last},
            step=step.name, reason=reason)
        return StepResult(Status.PROMOTED, step.name, weights, reason, verdicts)

    def _rollback_now(self, reason: str, by_operator: bool = False,
                      live: dict[str, int] | None = None, step: str | None = None,
                      outcome: str = "rolled-back") -> StepResult:
        """Weights first (Route 53 only), then the sticky abort, then EC2 capacity: best effort.

        After the abort is recorded (an operator's takes the lease, so the run it interrupts
        can no longer write), Route 53 is read once more: a run's move that landed meanwhile is
        put back, so nothing in flight undoes the rollback."""
        self._rolling_back = True
        router, actions, warnings = self.e.direct_router, [], []
        router.on_poll = self._keep_lease  # renews on the engine's clock, never interrupts
        target = weights_for(0)
        with self.ledger.heartbeat():  # a judge's rollback keeps its lease through INSYNC
            before = live if live is not None else router.current()
            confirmed = self._force_weights(before, target, actions)
        abort = {"by": self.ledger.operator if by_operator else f"judge ({self.ledger.owner})",
                 "at": self.e.now(), "reason": reason}
        try:
            if by_operator:
                taken = self.ledger.acquire_forcibly()
                if taken:
                    actions.append(f"took the lock from {taken}: it can no longer move traffic")
            state = {"status": ABORTED, "abort": abort, "weights": target, "pending": None,
                     "mode": "stopped", "approvals": [], "promoted": [], "validated": False}
            step = step or (self.ledger.read_state().get("step") if by_operator else None)
            if step:
                state["steps"] = self._outcome(step, outcome, reason)
            self.ledger.commit("rollback", state=state, reason=reason, before=before, after=target,
                               actions=actions)
            actions.append("recorded the migration aborted: `soundbite migrate retry` clears it")
        except CONTROL_PLANE_ERRORS as exc:
            warnings.append(f"traffic is safe on EC2, but the abort was not recorded: {one_line(exc)}")
        finally:
            if by_operator:
                self.ledger.release()
        self._put_back_a_late_move(target, actions)
        if not confirmed:
            router.verify(target)  # a last read: still not all on EC2 is an error, after the abort
        warnings += self._ensure_ec2_capacity(actions)
        self._emit("rollback", reason=reason, weights=target, evidence=self._last)
        return StepResult(Status.ROLLED_BACK, "rollback", target, reason, actions=actions,
                          warnings=warnings)

    def _force_weights(self, seen: dict[str, int], target: dict[str, int],
                       actions: list[str]) -> bool:
        """Set `target` and read it back; a change that lands in between (a run's move already
        on its way) is overwritten, up to ROLLBACK_WRITES times. False: still not confirmed."""
        router = self.e.direct_router
        for attempt in range(ROLLBACK_WRITES):
            if not same_weights(seen, target):
                router.set_weights(target)
                actions.append(f"weights {_weights(seen)} -> {_weights(target)}")
            elif attempt == 0:
                actions.append("weights already all on EC2")
            seen = router.current()
            if same_weights(seen, target):
                return True
        return False

    def _put_back_a_late_move(self, target: dict[str, int], actions: list[str]) -> None:
        """A run's change submitted before it saw the abort may land after our verify."""
        try:
            now = self.e.direct_router.current()
        except CONTROL_PLANE_ERRORS:
            # Read a moment ago. A later landing is undone by the run when it sees its lease gone;
            # a run killed while its `pulumi up` goes on cannot, which the rollback runbook's
            # "check again" step (status, drift) is there to catch.
            return
        if not same_weights(now, target):
            self.e.direct_router.set_weights(target)
            self.e.direct_router.verify(target)
            actions.append(f"a move that landed during the rollback ({_weights(now)}) was put back")

    def _ec2_groups(self) -> list[tuple[str, object, int]]:
        """EC2's Auto Scaling groups the target names: (kind, scaler, configured count)."""
        groups = (("API", self.e.ec2_scaler, self.e.ec2_capacity.api),
                  ("worker", self.e.ec2_worker_scaler, self.e.ec2_capacity.worker))
        return [group for group in groups if group[1] is not None]

    def _ensure_ec2_capacity(self, actions: list[str]) -> list[str]:
        """EC2's API and worker groups back to their configured counts, each on its own: one
        group unreachable is a warning and does not keep the other from being raised. With
        the configured counts unknown (no stack config), the default counts, and a warning."""
        warnings = []
        groups = self._ec2_groups()
        if groups and self.e.capacity_problem:
            warnings.append(f"EC2's configured capacity is unknown ({self.e.capacity_problem}): raised "
                            "to at least the default count only; check the groups' sizes by hand")
        for kind, scaler, count in groups:
            try:
                if scaler.ensure_at_least(count):
                    actions.append(f"raised EC2 {kind} desired capacity to {count}")
            except CONTROL_PLANE_ERRORS as exc:
                warnings.append(f"traffic is safe on EC2, but its {kind} capacity could not be "
                                f"checked: {one_line(exc)}")
        return warnings

    def _wait_for_capacity(self) -> str:
        """Wait (up to the plan's soak extension) for each EC2 group's configured InService
        count; says how many are in service in each."""
        groups = self._ec2_groups()
        if not groups:
            return "no EC2 Auto Scaling group configured (asg_name): capacity not checked"
        running: dict[str, int | None] = {}

        def in_service() -> bool:
            running.update({kind: Evidence.attempt(scaler.running) for kind, scaler, _ in groups})
            return all(running[kind] is not None and running[kind] >= count for kind, _, count in groups)

        met = self._poll_until(in_service, max(self.e.plan.max_soak_extension_seconds, 60), self.e.sleep)
        shown = ", ".join(f"{'unknown' if running[kind] is None else running[kind]} of {count} "
                          f"{kind} instances" for kind, _, count in groups)
        return f"EC2 has {shown} in service" + ("" if met else " after waiting: check the groups")

    def _keep_lease(self) -> None:
        """Between a rollback's INSYNC polls: keep the lease, and let nothing (a ledger outage
        included) interrupt the wait."""
        with contextlib.suppress(Exception):
            self.ledger.keep_alive()

    def _step_back(self, step: Step, reason: str) -> StepResult:
        target = weights_for(self.e.plan.previous_percent(step.percent))
        self._move(f"{step.name}-step-back", step.weights, target)
        return self._hold(step, target, f"stepped back to {_weights(target)}: {reason}",
                          stepped_back=True)

    def _hold_for_a_person(self, step: Step | None, exc: Exception,
                           clear_pending: bool = True) -> StepResult:
        """Route 53 changed by hand, an interrupted shift that matches neither side, a plan
        that no longer fits: with traffic on Fargate, held with the reason (the ledger keeps
        its weights, so the drift stays visible and refused until a person acts); held too when
        Route 53 cannot be read. With none there, the error is the whole story and is raised."""
        try:
            percent = fargate_percent(self.e.direct_router.current())
        except CONTROL_PLANE_ERRORS as unread:
            share = f"an unknown share on Fargate: Route 53 unreadable ({one_line(unread)})"
        else:
            if percent == 0:
                raise exc
            share = f"{percent}% on Fargate"
        return self._hold(step, None, f"{one_line(exc)} ({share}; a person decides: rollback, "
                          "or reconcile then resume)", clear_pending=clear_pending)

    def _in_plan(self, name: str) -> bool:
        return any(s.name == name for s in self.e.plan.steps)

    def _hold(self, step: Step | None, weights: dict[str, int] | None, reason: str,
              clear_pending: bool = False, stepped_back: bool = False) -> StepResult:
        """Held with its reason; `weights` None (unreadable) leaves the ledger's own. A step
        `stepped_back` from waits for a person's approval before it is tried again (any
        earlier approval of it is spent)."""
        name = step.name if step else None
        state = {"status": Status.HELD.value, "reason": reason, "mode": "stopped"}
        if clear_pending:
            state["pending"] = None
        if weights is not None:
            state["weights"] = weights
        if name:
            state["steps"] = self._outcome(name, "held", reason)
        if name and stepped_back:
            state["steps"][name]["stepped_back"] = True

            def spent(current: dict, fixed: dict = state) -> dict:  # read in the transaction
                return {**fixed, "approvals": [a for a in current.get("approvals") or [] if a != name]}

            state = spent
        self._log("held", state=state, shown={"step": name, "reason": reason, "weights": weights,
                                              "evidence": self._last}, step=name, reason=reason)
        return StepResult(Status.HELD, name, weights or {}, reason)

    # --- records ------------------------------------------------------------------------

    def _record(self, step: Step, verdict: Verdict) -> dict:
        data = verdict.to_dict()
        self._last = data
        self._log("verdict", shown={
            "step": step.name, "outcome": verdict.outcome.value, "reason": verdict.reason,
            "lanes": _lanes(data.get("evidence") or {}), "needed": verdict.needed_requests,
            "thresholds": {"error_rate": self.e.judge_config.error_rate_limit,
                           "p95_ms": self.e.judge_config.p95_limit_ms,
                           "min_requests": self.e.judge_config.min_requests}},
            step=step.name, verdict=data)
        return data

    def _outcome(self, name: str, outcome: str, reason: str) -> dict:
        steps = dict(self.ledger.read_state().get("steps") or {})
        steps[name] = {"outcome": outcome, "at": self.e.now(), "reason": reason}
        return steps

    def _order(self, name: str) -> int:
        names = [s.name for s in self.e.plan.steps]
        return names.index(name) if name in names else len(names)

    def _wait(self, seconds: float) -> None:
        """Sleep in slices short enough to keep the lease alive, renewing between them."""
        remaining, slice_ = seconds, max(self.ledger.lease_seconds / 3, 0.001)
        while remaining > 0:
            step = min(remaining, slice_)
            self.e.sleep(step)
            remaining -= step
            self.ledger.hold()

    def _describe(self, step: Step, live: dict[str, int]) -> StepResult:
        plan = self.e.plan
        if step.is_validation:
            how = ("run synthetic transactions on both direct names" if self.e.direct_clients
                   else "probe the direct names")
            actions = [f"{how} for {step.soak_seconds:.0f} s; weights stay {_weights(live)}"]
            if not self.e.direct_clients and self.e.probe is None:
                actions.append("no direct names configured (direct_urls): validate will hold")
        else:
            move = ("weights already there: soak the held step again" if same_weights(live, step.weights)
                    else f"set weights {_weights(live)} -> {_weights(step.weights)} in one change "
                         "batch, wait for INSYNC")
            actions = [move,
                       f"wait {plan.ttl_wait_seconds:.0f} s (DNS TTL) and {plan.metric_lag_seconds:.0f} s (metric lag)",
                       f"soak {step.soak_seconds:.0f} s, judging every {plan.analysis_interval_seconds:.0f} s; "
                       f"roll back after {plan.failure_limit} failed checks or "
                       f"{plan.consecutive_error_limit} unreadable ones"]
        if step.approval:
            actions.insert(0, "needs approval first")
        return StepResult(Status.DRY_RUN, step.name, live, "nothing changed", actions=actions)

    def _log(self, kind: str, state: dict | None = None, shown: dict | None = None, **data) -> dict:
        """One call per decision: the ledger's event and state change (one fenced transaction),
        then the same event shown to people and hooks (`shown` when they see other fields)."""
        event = self.ledger.commit(kind, state=state, **data)
        self._emit(kind, **(data if shown is None else shown))
        return event

    def _emit(self, kind: str, **data) -> None:
        with contextlib.suppress(Exception):  # a listener never stops the engine
            self.e.on_event({"kind": kind, "at": self.e.now(), **data})

    @staticmethod
    def _with(result: StepResult, verdicts: list[dict]) -> StepResult:
        result.verdicts = verdicts
        return result

    @contextlib.contextmanager
    def _lease(self, refuse_aborted: bool = True):
        """Hold the stack's lease; a killed process leaves it to expire (`resume` takes over).

        The abort is checked once the lease is ours: a rollback that finished just before we
        took it is seen, and one that starts after moves the fencing token under us."""
        self.ledger.acquire()
        try:
            if refuse_aborted:
                self._refuse_if_aborted()
            yield
        except (Exception, KeyboardInterrupt):  # an interrupt's hold is recorded: no expiry wait
            self.ledger.release()
            raise
        self.ledger.release()


def _lanes(evidence: dict) -> dict:
    """Per lane, what the verdict judged: requests, errors and p95 (empty when unmeasured)."""
    measured = evidence.get("measurements") or {}
    found = {}
    for lane, key in ((FARGATE, "canary"), (EC2, "baseline")):
        window = measured.get(key) or evidence.get(key)
        if window:
            found[lane] = {k: window.get(k) for k in ("requests", "errors", "p95_ms")}
    return found


__all__ = ["Executor", "LockHeldError", "Status", "StepResult"]
