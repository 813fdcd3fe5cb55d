"""Worker-only settings from `SOUNDBITE_WORKER_*` variables; the shared ones stay in Settings.

Defaults come from the resource spec. The grace period must end before ECS's stop timeout,
or ECS kills the process before it can release what it could not finish.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from soundbite import spec
from worker.exceptions import ConfigurationError

MAX_CONCURRENCY = spec.WORKER_MAX_CONCURRENCY


@dataclass(frozen=True)
class WorkerSettings:
    concurrency: int = spec.WORKER_CONCURRENCY
    grace_seconds: float = spec.WORKER_GRACE_SECONDS
    poll_seconds: int = spec.LONG_POLL_SECONDS
    time_limit_seconds: float = spec.SYNTHESIS_TIME_LIMIT_SECONDS

    def __post_init__(self) -> None:
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise ConfigurationError(
                f"worker concurrency must be 1..{MAX_CONCURRENCY}, got {self.concurrency}")
        if not 0 <= self.grace_seconds < spec.ECS_STOP_TIMEOUT_SECONDS:
            raise ConfigurationError(
                f"worker grace must be 0..{spec.ECS_STOP_TIMEOUT_SECONDS} s (below ECS's stop "
                f"timeout), got {self.grace_seconds}")
        if not 0 <= self.poll_seconds <= spec.LONG_POLL_SECONDS:
            raise ConfigurationError(
                f"worker poll wait must be 0..{spec.LONG_POLL_SECONDS} s, got {self.poll_seconds}")
        if not 0 < self.time_limit_seconds <= spec.LAMBDA_TIMEOUT_SECONDS:
            raise ConfigurationError(
                f"synthesis time limit must be above 0 and at most {spec.LAMBDA_TIMEOUT_SECONDS} s, "
                f"got {self.time_limit_seconds}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> WorkerSettings:
        """Settings from the environment; non-None `overrides` (command-line options) win."""
        environ = os.environ if environ is None else environ
        values: dict = {}
        for name, kind in (("concurrency", int), ("grace_seconds", float), ("poll_seconds", int),
                           ("time_limit_seconds", float)):
            raw = environ.get(f"SOUNDBITE_WORKER_{name.upper()}", "").strip()
            if raw:
                try:
                    values[name] = kind(raw)
                except ValueError:
                    raise ConfigurationError(
                        f"SOUNDBITE_WORKER_{name.upper()} must be a number, got {raw!r}") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
