"""The migration phase table: what each phase deploys, as plain data.

`ec2-only -> parallel -> validate -> shift-<N>... -> complete -> decommission`.
Each phase fixes which stacks exist, the Route 53 weights of both stacks, and the API and
worker desired counts per stack. The Pulumi program reads it for `soundbite:migrationPhase`;
the migration commands read it to know what a phase means. No Pulumi import here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from soundbite import spec

EC2, FARGATE = spec.STACKS


class UnknownPhaseError(ValueError):
    """A phase name that the table does not contain."""


@dataclass(frozen=True)
class Capacity:
    """Full-traffic capacity of one stack."""

    api: int = 2
    worker: int = 2

    def __post_init__(self) -> None:
        if self.api < 1 or self.worker < 1:
            raise ValueError("full capacity needs at least one API and one worker")


@dataclass(frozen=True)
class StackShape:
    """What one stack runs in one phase. `weight` is None when the stack has no public record."""

    exists: bool
    weight: int | None
    api_count: int
    worker_count: int
    min_capacity: int

    @property
    def serves_public(self) -> bool:
        return bool(self.exists and self.weight)


@dataclass(frozen=True)
class Phase:
    name: str
    index: int
    ec2: StackShape
    fargate: StackShape

    def stack(self, name: str) -> StackShape:
        return {EC2: self.ec2, FARGATE: self.fargate}[name]

    @property
    def weights(self) -> dict[str, int]:
        """Route 53 weights of the records that exist, keyed by stack."""
        return {
            name: shape.weight
            for name, shape in ((EC2, self.ec2), (FARGATE, self.fargate))
            if shape.exists and shape.weight is not None
        }

    @property
    def fargate_percent(self) -> int:
        total = sum(self.weights.values())
        return round(100 * self.weights.get(FARGATE, 0) / total) if total else 0

    @property
    def is_shift(self) -> bool:
        return self.name.startswith("shift-")


def _scaled(full: int, percent: int) -> int:
    """Desired count for `percent` of the traffic, never below one."""
    return max(1, math.ceil(full * percent / 100))


def build_phases(
    steps: tuple[int, ...] = spec.DEFAULT_SHIFT_STEPS,
    ec2: Capacity = Capacity(),
    fargate: Capacity = Capacity(),
) -> tuple[Phase, ...]:
    """The ordered phase table for the given shift steps (percent of traffic to Fargate)."""
    validate_steps(steps)
    ec2_full = StackShape(True, 100, ec2.api, ec2.worker, ec2.api)
    gone = StackShape(False, None, 0, 0, 0)
    dark = StackShape(True, 0, 1, 1, 1)  # deployed, direct name live, no public traffic
    rows: list[tuple[str, StackShape, StackShape]] = [
        ("ec2-only", ec2_full, gone),
        ("parallel", ec2_full, dark),
        ("validate", ec2_full, dark),
    ]
    for pct in steps:
        # EC2 keeps full capacity through every shift so a rollback lands on a warm stack.
        ec2_shape = StackShape(True, 100 - pct, ec2.api, ec2.worker, ec2.api)
        fg_shape = StackShape(
            True, pct, _scaled(fargate.api, pct), _scaled(fargate.worker, pct),
            _scaled(fargate.api, pct),
        )
        rows.append((f"shift-{pct}", ec2_shape, fg_shape))
    fg_full = StackShape(True, 100, fargate.api, fargate.worker, fargate.api)
    floor = spec.EC2_MIN_CAPACITY_AFTER_COMPLETE
    rows.append(("complete", StackShape(True, 0, floor, 0, floor), fg_full))
    rows.append(("decommission", gone, fg_full))
    return tuple(Phase(name, i, e, f) for i, (name, e, f) in enumerate(rows))


def validate_steps(steps: tuple[int, ...]) -> None:
    """Shift steps must rise strictly, stay within 1..100 and end at 100."""
    if not steps:
        raise ValueError("the plan needs at least one shift step")
    if any(not 1 <= s <= 100 for s in steps):
        raise ValueError(f"shift steps must be between 1 and 100 percent, got {list(steps)}")
    if list(steps) != sorted(set(steps)):
        raise ValueError(f"shift steps must rise strictly, got {list(steps)}")
    if steps[-1] != 100:
        raise ValueError(f"the last shift step must be 100, got {steps[-1]}")


def phase_named(name: str, phases: tuple[Phase, ...] | None = None) -> Phase:
    phases = phases or build_phases()
    for phase in phases:
        if phase.name == name:
            return phase
    known = ", ".join(p.name for p in phases)
    raise UnknownPhaseError(f"unknown migration phase {name!r}; known phases: {known}")


def phase_for_fargate_percent(percent: int, phases: tuple[Phase, ...]) -> Phase:
    """The phase whose public weights send `percent` of traffic to Fargate (0 -> validate)."""
    if percent <= 0:
        return phase_named("validate", phases)
    for phase in phases:
        if phase.is_shift and phase.fargate_percent == percent:
            return phase
    raise UnknownPhaseError(f"no shift phase sends {percent}% to Fargate")
