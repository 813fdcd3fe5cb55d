"""Faults the rehearsal injects into one lane: `LANE:KIND=VALUE[@WEIGHT]`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from soundbite import spec

KINDS = ("errors", "latency", "crash", "worker-crash")
_SYNTAX = re.compile(r"^(?P<lane>[a-z0-9]+):(?P<kind>[a-z-]+)(=(?P<value>[0-9.]+))?(@(?P<at>\d+))?$")


class FaultSyntaxError(ValueError):
    """A `--fault` value the rehearsal cannot understand."""


@dataclass(frozen=True)
class Fault:
    lane: str
    kind: str
    value: float = 0.0
    at_weight: int | None = None  # starts when the lane's weight reaches this percent

    def __str__(self) -> str:
        value = "" if self.kind in ("crash", "worker-crash") else f"={self.value:g}"
        at = "" if self.at_weight is None else f"@{self.at_weight}"
        return f"{self.lane}:{self.kind}{value}{at}"

    def due(self, lane_percent: int) -> bool:
        return self.at_weight is None or lane_percent >= self.at_weight


def parse_fault(text: str) -> Fault:
    match = _SYNTAX.match(text.strip())
    usage = "expected LANE:KIND=VALUE[@WEIGHT], e.g. fargate:errors=0.3@25 or fargate:crash@25"
    if not match:
        raise FaultSyntaxError(f"cannot read fault {text!r}: {usage}")
    lane, kind, raw, at = match["lane"], match["kind"], match["value"], match["at"]
    if lane not in spec.STACKS:
        raise FaultSyntaxError(f"unknown lane {lane!r} in {text!r}: one of {', '.join(spec.STACKS)}")
    if kind not in KINDS:
        raise FaultSyntaxError(f"unknown fault kind {kind!r} in {text!r}: one of {', '.join(KINDS)}")
    needs_value = kind in ("errors", "latency")
    if needs_value and raw is None:
        raise FaultSyntaxError(f"fault {text!r} needs a value: {usage}")
    if not needs_value and raw is not None:
        raise FaultSyntaxError(f"fault {text!r}: {kind} takes no value")
    value = float(raw) if raw is not None else 0.0
    if kind == "errors" and not 0 < value <= 1:
        raise FaultSyntaxError(f"fault {text!r}: the error fraction must be in (0, 1]")
    if kind == "latency" and not 0 < value <= 60_000:
        raise FaultSyntaxError(f"fault {text!r}: latency is milliseconds in (0, 60000]")
    weight = int(at) if at is not None else None
    if weight is not None and not 0 <= weight <= 100:
        raise FaultSyntaxError(f"fault {text!r}: @WEIGHT is a percent from 0 to 100")
    return Fault(lane, kind, value, weight)
