"""Faults the rehearsal injects: `SCOPE:KIND[=VALUE][@WEIGHT]`.

Application faults hit one lane (`fargate:errors=0.3`, `fargate:crash@25`); control-plane
faults hit what the engine depends on (`control:metrics=down@25`), the operator acts
(`operator:rollback@25`), the engine process dies (`engine:crash@50`), or an alarm fires on
the baseline (`ec2:alarm@25`: the baseline slows until its own p95 alarm, evaluated by the
emulator, goes to ALARM). `@WEIGHT` is the Fargate (or the lane's) share at which the
fault starts; `engine:crash@W` kills the engine during the Route 53 change that reaches W.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from soundbite import spec

LANE_KINDS = ("errors", "latency", "crash", "worker-crash", "alarm")
CONTROL_MODES = {"metrics": ("throttle", "down"), "ledger": ("down",), "route53": ("slow",)}
ACTORS = {"operator": ("rollback",), "engine": ("crash",)}
KINDS = LANE_KINDS + tuple(CONTROL_MODES) + tuple(k for ks in ACTORS.values() for k in ks)

SAFE_STATES = {
    "fargate:errors": "from a shift (`@5`): rolled back by the judge within the failure limit; "
                      "from the start: held at validate, whose transactions on Fargate's direct "
                      "name fail, so Fargate never takes traffic",
    "fargate:latency": "past 300 ms: stepped back one step and held with the latency reason. A "
                       "slow canary is a soft finding (it may be load), which the judge sees in "
                       "its first windows, minutes before the canary's p95 alarm (critical) has "
                       "its three one-minute periods of 200 requests; below 300 ms the judge's "
                       "latency rule decides",
    "fargate:crash": "rolled back: the ECS service runs fewer tasks than it wants, a critical finding",
    "fargate:worker-crash": "rolled back; the killed worker's job completes on the other lane",
    "ec2:alarm": "held with its reason: a baseline alarm never sends traffic back onto the sick "
                 "EC2 stack; a person decides",
    "control:metrics=throttle": "judged on: retries absorb the burst or a few checks are `error`; "
                                "promoted",
    "control:metrics=down": "rolled back through Route 53 after the consecutive-error limit",
    "control:ledger=down": "rolled back through Route 53; the abort could not be recorded (warning)",
    "control:route53=slow": "promoted: the lease is kept alive through an INSYNC wait past its expiry",
    "operator:rollback": "rolled back by the operator; the run stands down (exit 6) and `resume` "
                         "is refused (exit 5) until `retry`",
    "engine:crash": "promoted: `resume` finds the change reached Route 53, adopts it and judges on",
}
ROLLS_BACK = {"fargate:errors", "fargate:crash", "fargate:worker-crash",
              "control:metrics=down", "control:ledger=down", "operator:rollback"}
"""Kinds whose documented safe state is all traffic on EC2."""


class FaultSyntaxError(ValueError):
    """A `--fault` value the rehearsal cannot understand."""


@dataclass(frozen=True)
class Fault:
    scope: str
    kind: str
    value: float | str = 0.0
    at_weight: int | None = None  # starts when the lane's (or Fargate's) weight reaches this percent

    def __str__(self) -> str:
        value = f"={self.value:g}" if isinstance(self.value, float) and self.kind in ("errors", "latency") \
            else (f"={self.value}" if isinstance(self.value, str) else "")
        at = "" if self.at_weight is None else f"@{self.at_weight}"
        return f"{self.scope}:{self.kind}{value}{at}"

    @property
    def name(self) -> str:
        """The fault's kind without its weight, as SAFE_STATES and the README name it."""
        value = f"={self.value}" if isinstance(self.value, str) else ""
        return f"{self.scope}:{self.kind}{value}"

    @property
    def lane(self) -> str:
        """The lane whose weight starts the fault: its own lane, else Fargate (the canary)."""
        return self.scope if self.scope in spec.STACKS and self.kind != "alarm" else spec.STACKS[1]

    @property
    def on_lane(self) -> bool:
        return self.scope in spec.STACKS and self.kind != "alarm"

    @property
    def steps_back(self) -> bool:
        """Whether the documented safe state is a step back and a hold: a canary latency past
        the p95 objective."""
        return self.name == "fargate:latency" and float(self.value) > spec.ALARMS.p95_latency_ms

    @property
    def rolls_back(self) -> bool:
        """Whether the documented safe state is all traffic on EC2."""
        if self.name == "fargate:errors" and not self.at_weight:
            return False  # present at validate: held there, before any traffic moves
        return self.name in ROLLS_BACK

    def due(self, lane_percent: int) -> bool:
        return self.at_weight is None or lane_percent >= self.at_weight


_SYNTAX = re.compile(r"^(?P<scope>[a-z0-9]+):(?P<kind>[a-z0-9-]+)(=(?P<value>[a-z0-9.]+))?"
                     r"(@(?P<at>\d+))?$")
USAGE = ("expected SCOPE:KIND[=VALUE][@WEIGHT], e.g. fargate:errors=0.3@25, fargate:crash@25, "
         "control:metrics=down@25, operator:rollback@25, engine:crash@50, ec2:alarm@25")


def parse_fault(text: str) -> Fault:
    match = _SYNTAX.match(text.strip())
    if not match:
        raise FaultSyntaxError(f"cannot read fault {text!r}: {USAGE}")
    scope, kind, raw, at = match["scope"], match["kind"], match["value"], match["at"]
    weight = int(at) if at is not None else None
    if weight is not None and not 0 <= weight <= 100:
        raise FaultSyntaxError(f"fault {text!r}: @WEIGHT is a percent from 0 to 100")
    if scope == "control":
        return Fault(scope, kind, _control_mode(text, kind, raw), weight)
    if scope in ACTORS:
        if kind not in ACTORS[scope]:
            raise FaultSyntaxError(f"unknown fault kind {kind!r} in {text!r}: {scope} takes "
                                   f"{', '.join(ACTORS[scope])}")
        if raw is not None:
            raise FaultSyntaxError(f"fault {text!r}: {kind} takes no value")
        return Fault(scope, kind, 0.0, weight)
    if scope not in spec.STACKS:
        raise FaultSyntaxError(f"unknown lane {scope!r} in {text!r}: one of "
                               f"{', '.join((*spec.STACKS, 'control', *ACTORS))}")
    if kind not in LANE_KINDS:
        raise FaultSyntaxError(f"unknown fault kind {kind!r} in {text!r}: one of {', '.join(LANE_KINDS)}")
    if kind == "alarm" and scope != spec.STACKS[0]:
        raise FaultSyntaxError(f"fault {text!r}: alarm is a fault of the baseline (ec2:alarm)")
    return Fault(scope, kind, _lane_value(text, kind, raw), weight)


def _control_mode(text: str, dependency: str, raw: str | None) -> str:
    if dependency not in CONTROL_MODES:
        raise FaultSyntaxError(f"unknown dependency {dependency!r} in {text!r}: one of "
                               f"{', '.join(CONTROL_MODES)}")
    modes = CONTROL_MODES[dependency]
    if raw not in modes:
        raise FaultSyntaxError(f"fault {text!r}: control:{dependency} takes ={' or ='.join(modes)}")
    return raw


def _lane_value(text: str, kind: str, raw: str | None) -> float:
    needs_value = kind in ("errors", "latency")
    if needs_value and raw is None:
        raise FaultSyntaxError(f"fault {text!r} needs a value: {USAGE}")
    if not needs_value and raw is not None:
        raise FaultSyntaxError(f"fault {text!r}: {kind} takes no value")
    if raw is None:
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        raise FaultSyntaxError(f"fault {text!r}: {kind} takes a number") from None
    if kind == "errors" and not 0 < value <= 1:
        raise FaultSyntaxError(f"fault {text!r}: the error fraction must be in (0, 1]")
    if kind == "latency" and not 0 < value <= 60_000:
        raise FaultSyntaxError(f"fault {text!r}: latency is milliseconds in (0, 60000]")
    return value
