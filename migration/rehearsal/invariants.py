"""What must hold after every rehearsal, as checks that can fail or say they were not checked.

Pure functions of what the run recorded: the ledger's events (what the engine decided), the
live weights the rehearsal read from Route 53 every tenth of a second, the engine processes'
lifetimes, the faults' start times and the soundbite tally. A check that the run cannot make
is `not checked`, never `held`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from migration.rehearsal.faults import Fault
from migration.rehearsal.settle import SoundbiteTally
from migration.rehearsal.supervisor import KILLED

HELD, FAILED, NOT_CHECKED = "held", "failed", "not checked"
JUDGING = {"run", "validate", "shift", "shifted", "resoak", "verdict", "resume",
           "in-flight-undone", "approval", "promoted", "scale-out"}
"""Ledger events written by an engine that is judging (or moving traffic under its lease). A
promotion counts only as long as a live engine goes on to the next step: `run` does at once."""
DECIDED = {"held", "awaiting-approval", "complete"}
"""Ledger states in which Fargate may carry traffic with no engine running: a hold with its
reason, an approval wait, and the plan complete (all traffic on Fargate, the migration done)."""
LIVE_GAP_SECONDS = 20.0
"""A judging engine writes at least every this many seconds (a check every analysis interval,
reads retried with backoff); a longer silence is not a live soak."""
TAKEOVER_SECONDS = 10.0
"""Unjudged seconds allowed in all: a killed engine's successor starting up."""


@dataclass(frozen=True)
class Check:
    status: str
    detail: str

    def as_dict(self) -> dict:
        return asdict(self)


def held(detail: str) -> Check:
    return Check(HELD, detail)


def failed(detail: str) -> Check:
    return Check(FAILED, detail)


def not_checked(detail: str) -> Check:
    return Check(NOT_CHECKED, detail)


WeightLog = list[tuple[float, int]]
"""(time, Fargate percent) at every change of the live weights, first entry at the start."""


def fargate_spans(log: WeightLog, end: float) -> list[tuple[float, float, int]]:
    """(from, to, percent) for each stretch in which Fargate had weight above zero."""
    spans = []
    for (at, percent), (after, _) in zip(log, [*log[1:], (end, 0)], strict=True):
        if percent > 0 and after > at:
            spans.append((at, after, percent))
    return spans


def soundbites_kept(tally: SoundbiteTally) -> tuple[Check, Check]:
    if tally.accepted == 0:
        reason = not_checked("no soundbite was accepted")
        return reason, reason
    lost = (held(f"{tally.ready + tally.failed} of {tally.accepted} accepted settled")
            if tally.lost == 0 else failed(f"{tally.lost} of {tally.accepted} accepted never settled"))
    dupes = (held(f"{tally.records} records for {tally.accepted} accepted keys") if tally.duplicates == 0
             else failed(f"{tally.duplicates} duplicates ({tally.records} records, {tally.accepted} keys)"))
    return lost, dupes


def identical_across_lanes(compared: int, mismatches: list[str], crashed: list[str]) -> Check:
    if crashed:
        return not_checked(f"lane {', '.join(crashed)} crashed: one lane cannot be compared")
    if compared == 0:
        return not_checked("no soundbite to compare")
    if mismatches:
        return failed(f"{len(mismatches)} of {compared} differ, e.g. {mismatches[0]}")
    return held(f"{compared} soundbites read the same from both lanes")


def no_client_errors(faults: tuple[Fault, ...], client_errors: int, requests: int) -> Check:
    """A healthy run, or one whose faults are all in the control plane: clients see nothing."""
    lane_faults = [str(f) for f in faults if f.on_lane]
    if lane_faults:
        return not_checked(f"{', '.join(lane_faults)} makes errors on purpose")
    if requests == 0:
        return not_checked("no client request was made")
    if client_errors:
        return failed(f"{client_errors} of {requests} client requests failed")
    return held(f"0 of {requests} client requests failed")


def _covered(events: list[dict], alive, end: float) -> list[tuple[float, float]]:
    """When the ledger shows Fargate's traffic judged, held with a reason, or awaiting approval."""
    covered = []
    ordered = sorted(events, key=lambda e: e["at"])
    for event, after in zip(ordered, [*ordered[1:], None][:len(ordered)], strict=True):
        start, until = event["at"], after["at"] if after else end
        kind = event["kind"]
        if kind in DECIDED and (kind != "held" or event.get("reason")):
            covered.append((start, until))
        elif kind == "rollback":
            covered.append((start, min(until, start + LIVE_GAP_SECONDS)))
        elif kind in JUDGING:
            limit = until if kind == "shift" else min(until, start + LIVE_GAP_SECONDS)
            covered.append((start, alive(start, limit)))
    return covered


def traffic_never_unjudged(log: WeightLog, events: list[dict], alive, end: float) -> Check:
    """Every second with Fargate weight above 0 is a live soak, a stated hold or an approval wait.

    `alive(start, limit)` returns the time (<= limit) until which an engine process ran
    continuously from `start`: a soak whose engine is dead is not judged."""
    spans = fargate_spans(log, end)
    if not spans:
        return not_checked("Fargate never carried traffic")
    covered = _covered(events, alive, end)
    gaps = []
    for start, stop, percent in spans:
        cursor = start
        for a, b in sorted(covered):
            if b <= cursor or a >= stop:
                continue
            if a > cursor:
                gaps.append((cursor, min(a, stop), percent))
            cursor = max(cursor, b)
        if cursor < stop:
            gaps.append((cursor, stop, percent))
    unjudged = sum(b - a for a, b, _ in gaps)
    carried = sum(b - a for a, b, _ in spans)
    if unjudged > TAKEOVER_SECONDS:
        a, b, percent = max(gaps, key=lambda g: g[1] - g[0])
        return failed(f"{unjudged:.1f} s of Fargate traffic unjudged, longest {b - a:.1f} s at "
                      f"{percent}% from +{a - log[0][0]:.1f} s")
    return held(f"{carried:.1f} s with Fargate weight > 0, {unjudged:.1f} s between a killed engine "
                f"and its successor (allowed {TAKEOVER_SECONDS:g} s)")


def operator_rollback_final(faults: tuple[Fault, ...], started: dict[str, float], log: WeightLog,
                            events: list[dict], end: float) -> Check:
    """After the operator's rollback lands, Fargate stays at 0 (nobody here runs `retry`)."""
    fault = next((f for f in faults if f.name == "operator:rollback"), None)
    if fault is None:
        return not_checked("no operator rollback in this run")
    at = started.get(str(fault))
    if at is None:
        return failed("the operator's rollback never ran (its weight was not reached)")
    landed = next((t for t, percent in log if t >= at and percent == 0), None)
    if landed is None:
        return failed("the operator's rollback never brought Fargate to 0")
    again = [(t, p) for t, p in log if t > landed and p > 0]
    if again:
        t, percent = again[0]
        return failed(f"Fargate back at {percent}% +{t - landed:.1f} s after the operator's rollback")
    rollback = next((e for e in events if e["kind"] == "rollback" and e["at"] >= at), None)
    late = [e for e in events if rollback and e["at"] > rollback["at"]
            and e.get("runId") != rollback.get("runId") and e["kind"] != "in-flight-undone"]
    if late:
        return failed(f"another run wrote {late[0]['kind']} after the operator's rollback")
    return held(f"Fargate 0 from +{landed - log[0][0]:.1f} s to the end ({end - landed:.1f} s)")


def rolled_back_in_time(faults: tuple[Fault, ...], effective: float | None, restored: float | None,
                        events: list[dict], failure_limit: int, error_limit: int) -> Check:
    """After the fault took effect, the judge rolls back by the check that reaches its limit."""
    judged = [f for f in faults if f.rolls_back and f.name != "operator:rollback"]
    if not judged:
        return not_checked("no fault in this run calls for the judge's rollback")
    if effective is None:
        return not_checked(f"{', '.join(map(str, judged))} never took effect: the run ended before "
                           "its weight was reached")
    if restored is None:
        return failed(f"{', '.join(map(str, judged))} took effect but Fargate was never rolled back")
    verdicts = sorted((e for e in events if e["kind"] == "verdict" and e["at"] >= effective),
                      key=lambda e: e["at"])
    fails = errors = 0
    for index, event in enumerate(verdicts):
        outcome = (event.get("verdict") or {}).get("outcome", event.get("outcome"))
        fails += outcome == "fail"
        errors = errors + 1 if outcome == "error" else 0
        if fails >= failure_limit or errors >= error_limit:
            late = [v for v in verdicts[index + 1:] if v["at"] < restored]
            if late:
                return failed(f"{len(late)} more checks after the limit was reached at "
                              f"+{event['at'] - effective:.1f} s before the rollback")
            break
    return held(f"rolled back {restored - effective:.1f} s after the fault took effect, "
                f"{fails} failed and {errors} unreadable checks in between")


def _effect(fault: Fault, started: dict[str, float], control: dict[str, dict],
            runs: list[dict]) -> str | None:
    """What shows `fault` acted on the run, or None when nothing does."""
    if fault.scope == "control":
        service = {"metrics": "cloudwatch", "ledger": "dynamodb", "route53": "route53"}[fault.kind]
        seen = control.get(service) or {}
        if fault.kind == "route53":
            return f"{seen['slowed']} Route 53 change(s) answered PENDING" if seen.get("slowed") else None
        return f"{seen['failed']} {service} call(s) failed" if seen.get("failed") else None
    if fault.name == "engine:crash":
        killed = [i for i, r in enumerate(runs) if r.get("exit_code") == KILLED]
        resumed = killed and any(r.get("command") == "resume" for r in runs[killed[0] + 1:])
        return "the engine was killed and `resume` took over" if resumed else None
    at = started.get(str(fault))
    return None if at is None else "started at its weight"


def faults_took_effect(faults: tuple[Fault, ...], started: dict[str, float], control: dict[str, dict],
                       runs: list[dict]) -> Check:
    """Every fault acted on the run: a rehearsal whose fault never fired proves nothing about
    it, however well the run ended (a throttle nobody met, a crash that never killed)."""
    if not faults:
        return not_checked("no fault in this run")
    effects = {str(f): _effect(f, started, control, runs) for f in faults}
    missing = [name for name, effect in effects.items() if effect is None]
    if missing:
        return failed(f"{', '.join(missing)} never took effect (its weight was not reached, or "
                      "nothing it breaks was called)")
    return held("; ".join(f"{name}: {effect}" for name, effect in effects.items()))


HOLDS = {"ec2:alarm"}
"""Kinds whose documented safe state is a hold with its reason (a person decides)."""


def documented_outcome(faults: tuple[Fault, ...]) -> str | None:
    """The outcome the README documents for these faults; None when the judge's own rule
    decides (a latency below the p95 objective)."""
    if any(f.rolls_back for f in faults):
        return "rolled-back"
    if any(f.name in HOLDS or f.steps_back or (f.name == "fargate:errors" and not f.at_weight)
           for f in faults):
        return "held"
    if any(f.name == "fargate:latency" for f in faults):
        return None
    return "promoted"


def ended_as_documented(faults: tuple[Fault, ...], outcome: str, events: list[dict] = ()) -> Check:
    """The run ended in the safe state its faults document (promoted when there are none).

    A hold on the baseline's own signals (its alarm: EC2 slow, on one machine usually load)
    is the judge doing right by a sick baseline, not the fault's outcome: not checked."""
    expected = documented_outcome(faults)
    if expected is None:
        return not_checked(f"{', '.join(map(str, faults))}: the judge's latency rule decides")
    verdicts = [e for e in events if e.get("kind") == "verdict"]
    last = (verdicts[-1].get("verdict") or {}) if verdicts else {}
    if outcome == "held" != expected and last.get("severity") == "hold":
        return not_checked(f"held on the baseline's own signals ({last.get('reason', 'no reason')}): "
                           "the baseline decided before the faults could")
    if outcome != expected:
        return failed(f"ended {outcome}, where {', '.join(map(str, faults)) or 'a healthy run'} "
                      f"documents {expected}")
    if any(f.steps_back for f in faults):
        holds = [e for e in events if e.get("kind") == "held"]
        reason = holds[-1].get("reason", "") if holds else ""
        if not reason.startswith("stepped back"):
            return failed(f"held without stepping back ({reason or 'no reason'}), where "
                          f"{', '.join(map(str, faults))} documents a step back")
        return held(f"ended held, as documented: {reason}")
    return held(f"ended {outcome}, as documented")
