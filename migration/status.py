"""`status` and `reconcile`: the configured phase against live weights, health, lock, decisions."""

from __future__ import annotations

from infra import phases
from migration.engine import EC2, FARGATE, Engine
from migration.evidence import CONTROL_PLANE_ERRORS, one_line
from migration.exceptions import MigrationError
from migration.router import describe, fargate_percent

RECENT_EVENTS = 10


def live_phase(engine: Engine, live: dict[str, int]) -> str | None:
    try:
        return phases.phase_for_fargate_percent(fargate_percent(live), engine.phase_table).name
    except phases.UnknownPhaseError:
        return None


def config_drift(engine: Engine, live: dict[str, int]) -> dict:
    """Config phase vs live Route 53 weights (compared as the share Fargate gets)."""
    if engine.phase_source is None:
        return {"config_phase": None, "drift": None, "detail": "no stack config to compare with"}
    try:
        configured = engine.phase_source.get()
    except MigrationError as exc:
        return {"config_phase": None, "drift": None, "detail": str(exc)}
    except RuntimeError as exc:  # Pulumi unavailable or failing: report, do not crash status
        return {"config_phase": None, "drift": None, "detail": str(exc)}
    if configured is None:
        return {"config_phase": None, "drift": None, "detail": "soundbite:migrationPhase is not set"}
    try:
        phase = phases.phase_named(configured, engine.phase_table)
    except phases.UnknownPhaseError as exc:
        return {"config_phase": configured, "drift": True, "detail": str(exc)}
    drift = phase.fargate_percent != fargate_percent(live)
    detail = (f"config says {configured} ({phase.fargate_percent}% Fargate), Route 53 sends "
              f"{fargate_percent(live)}%" if drift else f"config {configured} agrees with Route 53")
    return {"config_phase": configured, "drift": drift, "detail": detail}


def status(engine: Engine) -> dict:
    """Every section read on its own: one that fails (the ledger gone, Auto Scaling
    unreachable) is named under `unreadable` with its cause, and the rest still shows, Route
    53's live weights first, which is what a person confirms a rollback with."""
    unreadable: dict[str, str] = {}

    def read(section: str, fetch, default=None):
        try:
            return fetch()
        except CONTROL_PLANE_ERRORS as exc:
            unreadable[section] = one_line(exc)
            return default

    live = read("route53", engine.direct_router.current)
    state = read("ledger", engine.ledger.read_state, {})
    data = {
        "stack": engine.stack,
        "live_weights": live,
        "fargate_percent": fargate_percent(live) if live else None,
        "live_phase": live_phase(engine, live) if live else None,
        **(config_drift(engine, live) if live is not None else
           {"config_phase": None, "drift": None, "detail": "Route 53 unreadable: nothing to compare with"}),
        "ledger_weights": state.get("weights"),
        "ledger_drift": bool(live is not None and state.get("weights")) and any(
            live.get(k) != v for k, v in (state.get("weights") or {}).items()),
        "run_status": state.get("status"),
        "abort": state.get("abort"),
        "promoted": state.get("promoted", []),
        "steps": state.get("steps", {}),
        "pending": state.get("pending"),
        "alarms_firing": read("alarms", lambda: list(engine.firing()), []),
        "health": {lane: read(f"{lane} health", lambda lane=lane: engine.problems(lane))
                   if engine.health.get(lane) else None for lane in (EC2, FARGATE)},
        "lock": read("lock", engine.ledger.holder),
        "recent": read("events", lambda: engine.ledger.events(RECENT_EVENTS), []),
    }
    return {"status": "partial" if unreadable else "ok", **data, "unreadable": unreadable}


def reconcile(engine: Engine, dry_run: bool = False) -> dict:
    """Make the configured phase agree with live weights (after a rollback by Route 53).

    The phase chosen gives exactly the live weights, so the Pulumi program (which refuses to
    move live traffic, infra/traffic_guard.py) passes, and `pulumi up --refresh` (state read
    from Route 53 first) plans no change to the weighted records. Refused while a shift is in
    flight: the weights are about to change under it."""
    live = engine.direct_router.current()
    if not live:
        raise MigrationError("Route 53 has no weighted records for the name: nothing to reconcile")
    try:
        pending = engine.ledger.read_state().get("pending")
    except Exception:  # noqa: BLE001 - the ledger is optional here; Route 53 is the truth
        pending = None
    if pending:
        raise MigrationError(f"a shift to {describe(pending.get('after'))} ({pending.get('step')}) is in flight: "
                             "let it finish, or run `soundbite migrate resume` or `rollback` first")
    target = live_phase(engine, live)
    if target is None:
        raise MigrationError(f"live weights {describe(live)} match no phase of the table: fix them first")
    apply = (f"then apply it: pulumi up --refresh --stack {engine.stack} "
             "(its plan shows no change to the weighted records)")
    drift = config_drift(engine, live)
    if drift["drift"] is False:
        return {"changed": False, "phase": target, "detail": drift["detail"], "next": apply}
    if engine.phase_source is None:
        raise MigrationError("no stack config to reconcile: pass --stack-file or --pulumi-dir")
    if dry_run:
        return {"changed": False, "phase": target, "detail": f"would set the phase to {target}; {apply}",
                "next": apply}
    detail = engine.phase_source.set(target)
    engine.ledger.commit("reconcile", phase=target, live=live, detail=detail)
    return {"changed": True, "phase": target, "detail": f"{detail}; {apply}", "next": apply}
