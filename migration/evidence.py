"""What the executor reads before it decides: metrics, alarms and lane health, each read
retried with backoff, and a failing dependency turned into a stated reason, never a crash.

A provider that cannot be read is an `error` check for the judge (`read` returns the cause);
the executor counts those and rolls back after too many in a row.
"""

from __future__ import annotations

from collections.abc import Callable

from botocore.exceptions import BotoCoreError, ClientError

from migration.analysis import Windows
from migration.engine import EC2, FARGATE, Engine
from migration.exceptions import ConfigError, MigrationError
from migration.judge import LaneWindow, Measurements
from migration.plan import Step

READ_ATTEMPTS = 3
CONTROL_PLANE_ERRORS = (MigrationError, ClientError, BotoCoreError, OSError, RuntimeError)
"""What a failing dependency raises: ours (wrapped), botocore's, sockets', Pulumi's."""


class Evidence:
    """Reads of one engine's signals; `wait` sleeps between retries (and keeps the lease)."""

    def __init__(self, engine: Engine, wait: Callable[[float], None]) -> None:
        self.e = engine
        self._wait = wait

    def read(self, read):
        """`(value, None)` from `read`, retried with backoff; `(None, cause)` if it keeps failing."""
        last = None
        with self.e.ledger.heartbeat():  # a slow dependency never outlasts the lease
            for attempt in range(READ_ATTEMPTS):
                try:
                    return read(), None
                except CONTROL_PLANE_ERRORS as exc:
                    last = exc
                    if attempt + 1 < READ_ATTEMPTS:
                        self._wait(min(2.0 ** attempt, self.e.plan.analysis_interval_seconds / 4))
        return None, one_line(last)

    @staticmethod
    def attempt(read):
        """`read()`, or None if its dependency failed (for what is only shown, never judged)."""
        try:
            return read()
        except CONTROL_PLANE_ERRORS:
            return None

    def health_now(self) -> tuple[tuple[str, ...], list[str], list[str]]:
        """Alarms firing, the canary's capacity problems, and what could not be read."""
        with self.e.ledger.heartbeat():
            return self._health_now()

    def _health_now(self) -> tuple[tuple[str, ...], list[str], list[str]]:
        unreadable = []
        try:
            firing = self.e.firing()
        except CONTROL_PLANE_ERRORS as exc:
            firing, unreadable = (), [f"alarms: {one_line(exc)}"]
        try:
            problems = self.e.problems(FARGATE)
        except CONTROL_PLANE_ERRORS as exc:
            problems = []
            unreadable.append(f"fargate health: {one_line(exc)}")
        return firing, problems, unreadable

    def measure(self, step: Step, windows: Windows, dlq_at_start: float | None,
                looks_planned: int = 1) -> Measurements:
        """Both lanes over the cumulative and the recent window, with the queue, DLQ,
        alarms and the canary's capacity: everything one look judges."""
        metrics = self.e.metrics
        if metrics is None and self.e.metrics_problem:
            # an `error` check, counted toward the rollback, never a quiet "too few requests"
            raise ConfigError(self.e.metrics_problem)
        start, end = windows.start, windows.end

        def lane(name: str, since: float) -> LaneWindow:
            return metrics.lane(name, since, end) if metrics else LaneWindow()

        recent = windows.recent_start > start
        return Measurements(
            canary=lane(FARGATE, start), baseline=lane(EC2, start), intended_share=step.percent / 100,
            window_start=start, window_end=end,
            recent_canary=lane(FARGATE, windows.recent_start) if recent else None,
            recent_baseline=lane(EC2, windows.recent_start) if recent else None,
            recent_start=windows.recent_start if recent else None, looks_planned=looks_planned,
            dlq_messages=self.dlq(start, end), dlq_at_start=dlq_at_start,
            oldest_message_seconds=metrics.oldest_message_seconds(start, end) if metrics else None,
            alarms_firing=self.e.firing(), capacity_problems=tuple(self.e.problems(FARGATE)),
        )

    def dlq(self, start: float, end: float) -> float | None:
        return self.e.metrics.dlq_messages(start, end) if self.e.metrics else None

    def problems(self) -> list[str]:
        """Lost processes or tasks on either lane (a stack that lost them is not valid)."""
        return self.e.problems(FARGATE) + self.e.problems(EC2)


def one_line(exc: BaseException | None) -> str:
    """An error as one line a person can read in a verdict or a warning."""
    if exc is None:
        return "unknown error"
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
