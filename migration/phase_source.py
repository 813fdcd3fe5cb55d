"""Where the configured migration phase lives: Pulumi stack config, read two ways.

`PulumiConfigPhase` goes through the Automation API (can also write); `StackFilePhase`
reads `Pulumi.<stack>.yaml` directly, so `status` shows drift even without the pulumi CLI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from infra.automation import PHASE_KEY, PulumiStack, config_set_command
from migration.exceptions import ConfigError


class PhaseSource(Protocol):
    def get(self) -> str | None: ...

    def set(self, phase: str) -> str: ...


class PulumiConfigPhase:
    def __init__(self, stack: PulumiStack):
        self.stack = stack

    def get(self) -> str | None:
        return self.stack.get_phase()

    def set(self, phase: str) -> str:
        self.stack.set_phase(phase)
        return f"set {PHASE_KEY}={phase} on stack {self.stack.name}"


class StackFilePhase:
    """Read-only: writing is left to the printed `pulumi config set` command."""

    def __init__(self, path: str | Path, stack_name: str):
        self.path, self.stack_name = Path(path), stack_name

    def get(self) -> str | None:
        import yaml

        if not self.path.is_file():
            raise ConfigError(f"stack config file {self.path} not found")
        data = yaml.safe_load(self.path.read_text()) or {}
        value = (data.get("config") or {}).get(PHASE_KEY)
        return value if isinstance(value, str) else None

    def set(self, phase: str) -> str:
        return f"run: {config_set_command(self.stack_name, phase)}"
