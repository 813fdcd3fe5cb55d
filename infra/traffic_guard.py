"""The program guards live traffic: what `pulumi up` may do to weights someone else set.

Route 53's weighted records are moved by the migration tool (`soundbite migrate`), and a
rollback moves them without Pulumi. So before the program writes weights it reads the live
ones, and if the configured phase would send a different share to Fargate it refuses, unless
the move is asked for explicitly for this phase: `soundbite:moveTrafficTo=<phase>` in the
stack config, or `SOUNDBITE_MOVE_TRAFFIC_TO=<phase>` in the environment of one `pulumi up`
(the migration tool's Pulumi router sets the latter for the runs it starts, together with
`SOUNDBITE_MOVE_TRAFFIC_FROM`, the Fargate share it decided the move from: if Route 53 shows
another share when the program runs, someone moved traffic since, a rollback perhaps, and
the program refuses rather than undo it). After a rollback
the tool's ledger says `aborted`, and then no override moves traffic: `soundbite migrate
reconcile` (config follows Route 53) or `soundbite migrate retry` (clears the abort) first.

Capacity follows the same reading: while Route 53 sends EC2 any traffic, or the ledger says
the migration was rolled back, the EC2 API group keeps full capacity whatever the phase, so a
`pulumi up` from `complete` never shrinks what a rollback is standing on.

Plain data in, plain data out: no Pulumi import (infra/live_traffic.py reads AWS).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from infra.phases import EC2, FARGATE, Capacity, Phase, StackShape

OVERRIDE_KEY = "soundbite:moveTrafficTo"
OVERRIDE_VARIABLE = "SOUNDBITE_MOVE_TRAFFIC_TO"
FROM_VARIABLE = "SOUNDBITE_MOVE_TRAFFIC_FROM"


REFUSAL_MARKER = "soundbite traffic guard refused:"
"""Starts the program's error when the guard refuses, so the migration tool driving
`pulumi up` tells a refusal (someone else moved traffic: stand down) from a failure."""


class TrafficGuardError(ValueError):
    """`pulumi up` would move live traffic that the configured phase does not account for."""


@dataclass(frozen=True)
class LiveTraffic:
    """What AWS says now: the public name's weighted records, and the tool's ledger."""

    weights: dict[str, int] = field(default_factory=dict)  # set identifier -> live weight
    aborted: str | None = None  # the ledger's abort (who, why) while the migration is rolled back
    ledger_unreadable: str | None = None  # why the ledger could not be read (it exists, but failed)

    @property
    def fargate_percent(self) -> int:
        return fargate_percent(self.weights)


def fargate_percent(weights: dict[str, int]) -> int:
    """The share of queries Route 53 answers with Fargate (all-zero weights split evenly)."""
    present = {k: v for k, v in weights.items() if k in (EC2, FARGATE)}
    total = sum(present.values())
    if not present:
        return 0
    if total == 0:
        return round(100 * (FARGATE in present) / len(present))
    return round(100 * present.get(FARGATE, 0) / total)


def live_weights(record_sets, api_name: str) -> dict[str, int]:
    """The weighted records of `api_name` among Route 53 record sets (dicts or objects)."""
    wanted = api_name.rstrip(".").lower() + "."
    found: dict[str, int] = {}
    for rs in record_sets or []:
        get = rs.get if isinstance(rs, dict) else (lambda key, _rs=rs: getattr(_rs, key, None))
        name, ident, weight = get("name"), get("set_identifier"), get("weight")
        if (name or "").lower() == wanted and get("type") == "A" and ident in (EC2, FARGATE) \
                and weight is not None:
            found[ident] = int(weight)
    return found


def _weights(weights: dict[str, int]) -> str:
    return " / ".join(f"{k} {weights.get(k, 0)}" for k in (EC2, FARGATE))


def check_traffic(phase: Phase, live: LiveTraffic, override: str | None,
                  moving_from: int | None = None) -> None:
    """Refuse a `pulumi up` that would move live traffic without being asked to, or that was
    asked to move it from a share Route 53 no longer shows (`moving_from`, in percent)."""
    if override and override != phase.name:
        raise TrafficGuardError(
            f"{OVERRIDE_KEY}={override} does not match soundbite:migrationPhase={phase.name}: "
            f"remove it (pulumi config rm {OVERRIDE_KEY})")
    if not live.weights:
        return  # first deploy: no live records to guard
    if live.fargate_percent == phase.fargate_percent:
        if override:
            raise TrafficGuardError(
                f"Route 53 already sends {phase.fargate_percent}% to Fargate as {phase.name} "
                f"does: remove the one-time {OVERRIDE_KEY} (pulumi config rm {OVERRIDE_KEY}) so it "
                "cannot move traffic back after a later rollback")
        return
    moving = (f"Route 53 sends {live.fargate_percent}% to Fargate ({_weights(live.weights)}), "
              f"and soundbite:migrationPhase={phase.name} would make it {phase.fargate_percent}%")
    if live.ledger_unreadable and phase.fargate_percent > live.fargate_percent:
        # Lowering Fargate's share (a step back) undoes no rollback: that one may go on.
        raise TrafficGuardError(
            f"{moving}, but the migration ledger could not be read ({live.ledger_unreadable}): it "
            "says whether the migration was rolled back, and no override raises Fargate's share "
            "without knowing. Fix access to the ledger table, then run again; nothing changed")
    if live.aborted:
        raise TrafficGuardError(
            f"{moving}, but the migration was rolled back ({live.aborted}). Run `soundbite migrate "
            "reconcile` so the config agrees with Route 53, then `pulumi up --refresh`; to start "
            "again after the incident, `soundbite migrate retry`")
    if override == phase.name:
        if moving_from is not None and live.fargate_percent != moving_from:
            raise TrafficGuardError(
                f"{moving}, but this move was decided from {moving_from}% on Fargate: someone moved "
                "traffic since (a rollback?), and the program will not undo it; nothing changed")
        return
    raise TrafficGuardError(
        f"{moving}. Refusing to move live traffic: if Route 53 is right (a rollback), run "
        f"`soundbite migrate reconcile` and `pulumi up --refresh`; to move traffic on purpose, "
        f"`pulumi config set {OVERRIDE_KEY} {phase.name}` for this one `pulumi up` (then remove it)")


def ec2_shape(phase: Phase, full: Capacity, live: LiveTraffic) -> StackShape:
    """The EC2 stack's shape: the phase's, but never below full API and worker capacity while
    EC2 takes live traffic or the migration is rolled back (what a rollback stands on, the
    workers a rollback raises included), nor while the ledger cannot say which it is."""
    shape = phase.ec2
    if not shape.exists:
        return shape
    if not (live.weights.get(EC2, 0) > 0 or live.aborted or live.ledger_unreadable):
        return shape
    return replace(shape, api_count=max(shape.api_count, full.api),
                   worker_count=max(shape.worker_count, full.worker),
                   min_capacity=max(shape.min_capacity, full.api))
