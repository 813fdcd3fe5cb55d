"""The Pulumi Automation API, wrapped for the migration commands.

`select_stack` opens a stack of the project in a directory through `pulumi.automation`;
the migration engine then only sets `soundbite:migrationPhase`, runs `up` and reads the
config back. The automation stack is injectable so tests pass a fake workspace. The
Automation API drives the `pulumi` CLI; when it is not installed, callers get
`PulumiUnavailableError` with a way out instead of a stack trace.

The program refuses to move live traffic unless asked (infra/traffic_guard.py). Every
preview and up this module runs is a move the migration tool decided (after checking Route 53
still shows what it last set), so it asks for that one run only: SOUNDBITE_MOVE_TRAFFIC_TO in
the environment of the `pulumi` process, never in the stack config where it could outlive the
run and undo a later rollback.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from infra.traffic_guard import FROM_VARIABLE, OVERRIDE_VARIABLE, REFUSAL_MARKER

PHASE_KEY = "soundbite:migrationPhase"


class AutomationError(RuntimeError):
    """A Pulumi operation failed."""


class TrafficRefusedError(AutomationError):
    """The program's traffic guard refused the run: Route 53 or the ledger says someone else
    moved traffic (a rollback?) since the move was decided. Nothing changed."""


class PulumiUnavailableError(AutomationError):
    """The pulumi CLI (which the Automation API drives) is not installed or not on PATH."""


MISSING_CLI = ("the pulumi CLI is not installed (the Automation API needs it): install it from "
               "the Pulumi docs, or move traffic with the Route 53 router (--via route53) and "
               "apply the printed `pulumi config set` command later")


def _is_missing_cli(exc: BaseException) -> bool:
    return isinstance(exc, FileNotFoundError) or "pulumi: not found" in str(exc) or (
        "No such file or directory" in str(exc) and "pulumi" in str(exc))


def _refusal(message: str) -> str | None:
    """The traffic guard's own line in a failed run's output, or None for any other failure."""
    for line in message.splitlines():
        if REFUSAL_MARKER in line:
            return line.split(REFUSAL_MARKER, 1)[1].strip()
    return None


@dataclass
class UpSummary:
    result: str
    changes: dict[str, int]


class PulumiStack:
    """One Pulumi stack: read and set the migration phase, run `up`."""

    def __init__(self, stack, name: str):
        self._stack = stack  # a pulumi.automation.Stack or a test's fake
        self.name = name

    def get_phase(self) -> str | None:
        try:
            return self._stack.get_config(PHASE_KEY).value
        except Exception as exc:
            if _is_missing_cli(exc):
                raise PulumiUnavailableError(MISSING_CLI) from exc
            if "not found" in str(exc).lower() or isinstance(exc, KeyError):
                return None
            raise AutomationError(f"cannot read {PHASE_KEY} of stack {self.name}: {exc}") from exc

    def set_phase(self, phase: str) -> None:
        from pulumi.automation import ConfigValue

        try:
            self._stack.set_config(PHASE_KEY, ConfigValue(value=phase))
        except Exception as exc:
            if _is_missing_cli(exc):
                raise PulumiUnavailableError(MISSING_CLI) from exc
            raise AutomationError(f"cannot set {PHASE_KEY}={phase} on {self.name}: {exc}") from exc

    def clear_phase(self) -> None:
        """Remove the phase from the stack's config (as it was before any phase was set)."""
        try:
            self._stack.remove_config(PHASE_KEY)
        except Exception as exc:
            if _is_missing_cli(exc):
                raise PulumiUnavailableError(MISSING_CLI) from exc
            raise AutomationError(f"cannot remove {PHASE_KEY} from {self.name}: {exc}") from exc

    def _run(self, what: str, call: Callable, moving_traffic: bool = False,
             moving_from: int | None = None):
        """One Automation API call: a missing CLI and any failure become one-line errors."""
        try:
            if not moving_traffic:
                return call()
            with self._moving_traffic(moving_from):
                return call()
        except Exception as exc:
            if _is_missing_cli(exc):
                raise PulumiUnavailableError(MISSING_CLI) from exc
            if refusal := _refusal(str(exc)):
                raise TrafficRefusedError(f"{what} on stack {self.name} was refused by the program: "
                                          f"{refusal}") from exc
            raise AutomationError(f"{what} failed on stack {self.name}: {exc}") from exc

    @contextlib.contextmanager
    def _moving_traffic(self, moving_from: int | None = None) -> Iterator[None]:
        """For the run inside: the program may move traffic to the configured phase, and only
        from `moving_from` percent on Fargate when given (what Route 53 showed the tool)."""
        env = getattr(getattr(self._stack, "workspace", None), "env_vars", None)
        if env is None:  # a test's fake runs no program
            yield
            return
        env[OVERRIDE_VARIABLE] = self.get_phase() or ""
        if moving_from is not None:
            env[FROM_VARIABLE] = str(moving_from)
        try:
            yield
        finally:
            env.pop(OVERRIDE_VARIABLE, None)
            env.pop(FROM_VARIABLE, None)

    def outputs(self) -> dict:
        """The stack's outputs (`pulumi stack output`), name -> object with `.value`."""
        return dict(self._run("reading the outputs", self._stack.outputs))

    def preview(self, on_output: Callable[[str], None] | None = None,
                moving_from: int | None = None) -> dict[str, int]:
        """`pulumi preview`: the planned changes by kind (create, update, delete, same)."""
        result = self._run("pulumi preview", lambda: self._stack.preview(on_output=on_output),
                           moving_traffic=True, moving_from=moving_from)
        return dict(getattr(result, "change_summary", None) or {})

    def up(self, on_output: Callable[[str], None] | None = None,
           moving_from: int | None = None) -> UpSummary:
        result = self._run("pulumi up", lambda: self._stack.up(on_output=on_output), moving_traffic=True,
                           moving_from=moving_from)
        summary = result.summary
        return UpSummary(summary.result, dict(summary.resource_changes or {}))


def config_set_command(stack_name: str, phase: str) -> str:
    """The exact command a person runs when the Automation API is not available."""
    return f"pulumi config set {PHASE_KEY} {phase} --stack {stack_name}"


def select_stack(stack_name: str, work_dir: str, select: Callable | None = None) -> PulumiStack:
    """Open an existing stack of the Pulumi project in `work_dir`."""
    if select is None:
        from pulumi import automation

        select = automation.select_stack
    try:
        return PulumiStack(select(stack_name, work_dir=work_dir), stack_name)
    except Exception as exc:
        if _is_missing_cli(exc):
            raise PulumiUnavailableError(MISSING_CLI) from exc
        raise AutomationError(f"cannot open Pulumi stack {stack_name} in {work_dir}: {exc}") from exc
