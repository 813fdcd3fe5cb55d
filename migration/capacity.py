"""Capacities and shift steps from the stack's own config, and the checks that hold a plan to them.

The Pulumi program sizes both stacks from `Pulumi.<stack>.yaml` (`ec2ApiCount`,
`fargateApiCount`, `shiftSteps`, ...), parsed by `infra/config.py`. The migration reads the same
file through the same parser, so preflight, rollback and the phase table use the numbers the
stacks were deployed with, never a default.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from infra import config as stack_config
from infra import phases
from migration.exceptions import ConfigError


@dataclass(frozen=True)
class StackCapacity:
    """What the stack's config says each side runs at full traffic, and the shift steps."""

    shift_steps: tuple[int, ...]
    ec2: phases.Capacity
    fargate: phases.Capacity
    source: str

    @property
    def phase_table(self) -> tuple[phases.Phase, ...]:
        return phases.build_phases(self.shift_steps, self.ec2, self.fargate)

    def describe(self) -> str:
        return (f"{self.source}: EC2 {self.ec2.api} API / {self.ec2.worker} workers, Fargate "
                f"{self.fargate.api} API / {self.fargate.worker} workers, shift steps "
                f"{list(self.shift_steps)}")


def _raw(value: object) -> str:
    """A YAML value as `pulumi config` stores it: strings as they are, the rest as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def read_stack_file(path: str | Path) -> StackCapacity:
    """The capacities in a `Pulumi.<stack>.yaml`, parsed as the Pulumi program parses them."""
    parsed = read_program_config(path)
    return StackCapacity(parsed.shift_steps, parsed.ec2_capacity, parsed.fargate_capacity, Path(path).name)


def read_program_config(path: str | Path) -> stack_config.ProgramConfig:
    """A `Pulumi.<stack>.yaml`'s whole config, parsed as the Pulumi program parses it."""
    import yaml

    file = Path(path)
    try:
        data = yaml.safe_load(file.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the stack config {file}: {exc}") from exc
    entries = data.get("config") if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        raise ConfigError(f"{file} has no `config:` mapping")
    prefix = f"{stack_config.NAMESPACE}:"
    values = {key[len(prefix):]: _raw(value) for key, value in entries.items()
              if key.startswith(prefix) and value is not None}
    try:
        return stack_config.from_values(values, entries.get("aws:region"))
    except stack_config.ConfigError as exc:
        raise ConfigError(f"the stack config {file.name} is invalid: {exc}") from exc


def plan_disagreement(plan_steps: tuple[int, ...], config: StackCapacity | None) -> str | None:
    """Why a plan's shift steps cannot run on this stack (None when they agree or nothing is known).

    Each shift step is a phase of the stack's table (`shift-<N>`): a plan step the table lacks
    would move traffic to weights `pulumi up` does not know, and would size nothing for it."""
    if config is None or tuple(plan_steps) == tuple(config.shift_steps):
        return None
    return (f"the plan's shift steps {list(plan_steps)} disagree with the stack's phase table "
            f"{list(config.shift_steps)} ({config.source}, soundbite:shiftSteps): use a plan with "
            "the configured steps, or change the config and `pulumi up` first")
