"""Run `soundbite migrate` as its own processes, as an operator (or a process supervisor) would.

The engine is a child process so the rehearsal can kill it. The supervisor restarts it once:
after a kill with `resume` (what the runbook says a person does after a crash), after a
stand-down with the same command again (what a process supervisor does with a job that
exited non-zero), which an operator's abort must refuse.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from soundbite.children import bound_to_this_process
from soundbite.exit_codes import ExitCode

KILLED = -signal.SIGKILL
STOOD_DOWN = int(ExitCode.STOOD_DOWN)


@dataclass
class EngineRun:
    """One `soundbite migrate ...` process: its command, lifetime, exit code and JSON answer."""

    command: str
    started_at: float
    ended_at: float | None = None
    exit_code: int | None = None
    result: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"command": self.command, "started_at": self.started_at, "ended_at": self.ended_at,
                "exit_code": self.exit_code, "status": self.result.get("status"),
                "reason": self.result.get("reason") or self.result.get("message"),
                "warnings": self.result.get("warnings") or []}


class EngineSupervisor:
    def __init__(self, target_file: Path, lanes_file: Path, plan: str, env: dict[str, str],
                 log_dir: Path) -> None:
        self.target_file, self.lanes_file, self.plan = target_file, lanes_file, plan
        self.env, self.log_dir = env, log_dir
        self.runs: list[EngineRun] = []
        self._process: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self.stopping = False
        """Set by `stop`: no command starts after it, and nothing restarts."""

    def alive_at(self, at: float) -> bool:
        """Was an engine process (run, advance or resume) running at `at`?"""
        return any(r.started_at <= at <= (r.ended_at or float("inf")) for r in self.runs
                   if r.command != "rollback")

    def kill(self) -> bool:
        """SIGKILL the running engine (no clean-up runs); False if none is running."""
        with self._lock:
            process = self._process
        if process is None or process.poll() is not None:
            return False
        os.killpg(process.pid, signal.SIGKILL)
        return True

    def stop(self) -> None:
        """The rehearsal is interrupted: kill the engine (if running) and start nothing more."""
        self.stopping = True
        self.kill()

    def command(self, *args: str, engine: bool = True) -> EngineRun:
        """Run `soundbite migrate ARGS --config target.json --plan PLAN --json --yes` to its end."""
        argv = [*args, "--config", str(self.target_file), "--plan", self.plan, "--json", "--yes"]
        entry = (["-m", "migration.rehearsal.engine_process", str(self.lanes_file)] if engine
                 else ["-m", "soundbite.cli", "migrate"])
        run = EngineRun(args[0], time.time())
        if self.stopping:
            run.ended_at, run.exit_code = run.started_at, KILLED
            return run
        self.runs.append(run)
        with (self.log_dir / "engine.log").open("ab") as log:
            # A session of its own (a kill reaches its children too), bound to die with us.
            process = subprocess.Popen([sys.executable, *entry, *argv], env=self.env, stdout=subprocess.PIPE,
                                       stderr=log, start_new_session=True,
                                       preexec_fn=bound_to_this_process())  # noqa: PLW1509
            if engine:
                with self._lock:
                    self._process = process
                if self.stopping:
                    self.kill()
            out, _ = process.communicate()
        run.ended_at, run.exit_code = time.time(), process.returncode
        try:
            run.result = json.loads(out or b"{}")
        except ValueError:
            run.result = {"message": out.decode(errors="replace")[-300:]}
        return run

    def migrate(self, until: str | None = None, before_restart=None) -> EngineRun:
        """The whole plan (or up to `until`); one restart after a kill or a stand-down."""
        command = "run" if until is None else "advance"
        last = self._step(command, until)
        if last.exit_code in (KILLED, STOOD_DOWN) and not self.stopping:
            if before_restart is not None:
                before_restart(last)
            last = self.command("resume") if last.exit_code == KILLED else self._step(command, until)
        return last

    def _step(self, command: str, until: str | None) -> EngineRun:
        while True:
            last = self.command(command)
            if command == "run" or self.stopping or last.exit_code != 0 or last.result.get("step") in (until, None):
                return last
