"""Preflight: the checks that must pass before any traffic moves, each with pass/fail and why."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from infra import phases
from migration.engine import EC2, FARGATE, Engine
from migration.exceptions import MigrationError
from migration.plan import VALIDATE, weights_for
from migration.router import check_weights, fargate_percent

RATE_WINDOW_SECONDS = 300


def _weights(weights: dict) -> str:
    """`ec2 100 / fargate 0`, as every other command prints weights (never a Python dict)."""
    return " / ".join(f"{lane} {weight}" for lane, weight in weights.items()) or "none"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _lock(engine: Engine) -> Check:
    holder = engine.ledger.holder()
    if holder is None or holder["expired"] or holder["owner"] == engine.ledger.owner:
        return Check("lock", True, "no other run holds the lock")
    return Check("lock", False, f"held by {holder['owner']} until {holder['expiresAt']:.0f}")


def _records(live: dict[str, int]) -> list[Check]:
    missing = [s for s in (EC2, FARGATE) if s not in live]
    checks = [Check("records", not missing, "both weighted records exist" if not missing
                    else f"missing weighted record(s): {', '.join(missing)}")]
    total = sum(live.values())
    checks.append(Check("live-weights", total > 0, f"live weights {_weights(live)}" if total > 0
                        else f"live weights {_weights(live)} are all zero"))
    return checks


def _run_state(engine: Engine) -> list[Check]:
    """A migration aborted or interrupted mid-shift must be cleared before traffic moves."""
    state = engine.ledger.read_state()
    checks = []
    if state.get("status") == "aborted":
        abort = state.get("abort") or {}
        checks.append(Check("aborted", False, f"aborted by {abort.get('by', 'someone')}: "
                            f"{abort.get('reason', 'no reason recorded')}; `soundbite migrate retry` clears it"))
    if state.get("pending"):
        checks.append(Check("interrupted", False, f"a run was interrupted while shifting "
                            f"{state['pending'].get('step')}: run `soundbite migrate resume`"))
    return checks


def _drift(engine: Engine, live: dict[str, int]) -> Check:
    expected = engine.ledger.read_state().get("weights")
    if expected and {k: live.get(k) for k in expected} != expected:
        return Check("drift", False, f"live {_weights(live)} but this tool last set {_weights(expected)}")
    return Check("drift", True, "live weights match the ledger")


def _next_weights(engine: Engine, live: dict[str, int],
                  to_percent: int | None = None) -> tuple[Check, int | None]:
    # The validate step moves nothing: capacity is judged for the next shift that does, or
    # for the share `shift --to` asks for.
    live_percent = fargate_percent(live)
    if to_percent is not None:
        step = engine.plan.step_for_percent(to_percent)
        if step is None:
            return Check("next-step", False, f"{to_percent}% is no step of the plan"), None
        if to_percent <= live_percent:
            return Check("next-step", True, f"{step.name} raises nothing"), None
    else:
        step = next((s for s in engine.plan.shift_steps if s.percent > live_percent), None)
    if step is None:
        return Check("next-step", True, "nothing left to shift"), None
    try:
        check_weights(weights_for(step.percent))
    except MigrationError as exc:
        return Check("next-step", False, str(exc)), None
    return Check("next-step", True, f"next: {step.name} -> {_weights(weights_for(step.percent))}"), step.percent


def _config(engine: Engine) -> list[Check]:
    """What the judge reads, where the capacities come from, and whether the plan fits the
    stack's phase table."""
    if engine.metrics_problem:
        return [Check("metrics", False, engine.metrics_problem)]
    if engine.capacity_problem:
        return [Check("capacity-config", False, engine.capacity_problem)]
    if engine.stack_capacity is None:
        # the factory reports an unknown capacity as a problem wherever something is sized
        return [Check("capacity-config", True, "no stack config: capacities given to the engine, "
                      f"EC2 {engine.ec2_capacity.api} and Fargate {engine.fargate_capacity.api} API "
                      "units (the target names no Auto Scaling group or ECS service sized from the "
                      "stack's config)")]
    disagreement = engine.plan_disagreement
    return [Check("capacity-config", True, engine.stack_capacity.describe()),
            Check("plan-steps", disagreement is None,
                  disagreement or "the plan's shift steps are the stack's phase table")]


NO_CLIENTS = ("the target has no synthetic_auth (and direct_urls for both lanes), so no synthetic "
              "client can be built: re-run `soundbite migrate init --force` (it writes both from the "
              "stack's outputs), or add `synthetic_auth` to the target file")


def _synthetic(engine: Engine) -> list[Check]:
    """Validate runs transactions on both direct names, and a declared top-up has a canary
    client: neither may silently become an operator-side probe, or nothing."""
    checks = []
    promoted = engine.ledger.read_state().get("promoted") or []
    if any(s.is_validation for s in engine.plan.steps) and VALIDATE not in promoted:
        lanes = [lane for lane in (EC2, FARGATE) if lane not in engine.direct_clients]
        checks.append(Check("validate-clients", not lanes, "validate runs synthetic transactions "
                            "on both direct names" if not lanes else
                            f"validate has no transaction client for {', '.join(lanes)}: {NO_CLIENTS}"))
    if engine.plan.synthetic is not None:
        ok = FARGATE in engine.direct_clients
        checks.append(Check("synthetic-top-up", ok, "the plan's top-up runs on Fargate's direct name"
                            if ok else f"the plan declares `synthetic` but {NO_CLIENTS}"))
    return checks


def fargate_needed(engine: Engine, percent: int) -> tuple[int, str]:
    """The Fargate API tasks `percent` of the traffic needs: the phase table's count, or more
    by the current request rate (with `fargate_capacity_rps`); and how that was reckoned."""
    needed = phases.phase_for_fargate_percent(percent, engine.phase_table).fargate.api_count
    detail = f"{percent}% needs {needed} by the phase table"
    rps = engine.fargate_capacity_rps
    if rps and engine.metrics is not None:
        now = engine.now()
        rate = sum(engine.metrics.lane(s, now - RATE_WINDOW_SECONDS, now).requests
                    for s in (EC2, FARGATE)) / RATE_WINDOW_SECONDS
        by_rate = math.ceil(rate * percent / 100 / rps)
        needed = max(needed, by_rate)
        detail += f", {by_rate} by the current {rate:.1f} req/s"
    return needed, detail


def capacity_for(engine: Engine, percent: int) -> Check:
    """Forward: Fargate must already run what the next phase (and current traffic) needs; a
    move raises the ECS service first when the target names it (see the executor)."""
    running = engine.running(FARGATE)
    if running is None:
        return Check("capacity", True, "skipped: no ECS service configured to count Fargate tasks")
    needed, detail = fargate_needed(engine, percent)
    if running < needed and engine.fargate_scaler is not None:
        return Check("capacity", True, f"Fargate runs {running} task(s), {detail}: the move raises "
                     "its ECS service first and waits for them")
    return Check("capacity", running >= needed, f"Fargate runs {running} task(s), {detail}")


def _capacity_back(engine: Engine) -> Check:
    """Back: EC2 must run its full configured count, so a rollback lands on a stack that can
    take all the traffic (the phase table keeps EC2 full through every shift)."""
    running = engine.running(EC2)
    wanted = engine.ec2_capacity.api
    if running is None:
        return Check("ec2-capacity", True, "skipped: no Auto Scaling group configured to count "
                     "EC2 instances")
    return Check("ec2-capacity", running >= wanted,
                 f"EC2 runs {running} instance(s) in service, a rollback needs {wanted} "
                 "(all traffic)")


def preflight(engine: Engine, to_percent: int | None = None) -> list[Check]:
    """Every check, in the order a person would read them; capacity for `to_percent` when a
    `shift --to` names the share, else for the next step of the plan."""
    checks = [_lock(engine), *_run_state(engine)]
    live = engine.router.current()
    checks += _records(live)
    checks.append(_drift(engine, live))
    firing = engine.firing()
    checks.append(Check("alarms", not firing, "no alarm in ALARM" if not firing
                        else f"in ALARM: {', '.join(firing)}"))
    for lane in (EC2, FARGATE):
        if not engine.health.get(lane):
            checks.append(Check(f"{lane}-health", True, f"skipped: no health provider configured for {lane}"))
            continue
        problems = engine.problems(lane)
        checks.append(Check(f"{lane}-health", not problems, "; ".join(problems) or "healthy"))
    checks += _config(engine)
    checks += _synthetic(engine)
    step_check, percent = _next_weights(engine, live, to_percent)
    checks.append(step_check)
    if percent:
        checks += [capacity_for(engine, percent), _capacity_back(engine)]
    return checks


def as_dicts(checks: list[Check]) -> list[dict]:
    return [asdict(c) for c in checks]
