"""Child processes that die with their parent, even when the parent is killed outright.

A parent that gets SIGTERM or Ctrl-C can stop its children itself; one that gets SIGKILL
cannot. On Linux the kernel can do it: `PR_SET_PDEATHSIG` asks for a signal when the parent
dies. Call `die_with_parent(parent=<the parent's pid>)` in the child (`bound_to_this_process()`
makes a `preexec_fn` for `subprocess.Popen`; a `multiprocessing` target calls it first thing). Elsewhere it does
nothing, and `Children.stop` remains the only way children end.

The kernel's "parent" is the thread that started the child: start children from a thread
that lives as long as they should (the main thread, or one kept for the purpose), never from
a short-lived worker thread, or the child dies when that thread ends.

`Children` keeps the processes one command started, so it can say when one died on its own
and stop them all (SIGTERM to each process group, then SIGKILL after a grace period).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGKILL, parent: int | None = None) -> None:
    """Ask the kernel to send `sig` to this process when its parent dies (Linux only).

    `parent` is the pid of the process that started this one: if this process already has
    another parent, that one died before the request took effect and nobody would send the
    signal, so it is sent now. (Not "is my parent pid 1": in a container the worker itself
    is pid 1.)"""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if parent is not None and os.getppid() != parent:
        os.kill(os.getpid(), sig)


def bound_to_this_process() -> Callable[[], None]:
    """A `preexec_fn` that binds the child to the process calling this (the parent)."""
    parent = os.getpid()
    return lambda: die_with_parent(parent=parent)


def _preexec(new_session: bool) -> Callable[[], None]:
    parent = os.getpid()

    def preexec() -> None:
        if new_session:
            os.setsid()
        die_with_parent(parent=parent)

    return preexec


class Children:
    """Processes started by one command: spawned to die with it, watched, stopped together."""

    def __init__(self, sleep: Callable[[float], None] = time.sleep, now=time.monotonic) -> None:
        self.processes: dict[str, subprocess.Popen] = {}
        self._sleep = sleep
        self._now = now

    def spawn(self, name: str, args: Sequence[str], *, new_session: bool = True,
              **popen) -> subprocess.Popen:
        """Start `args` as `name`, in a process group of its own, bound to die with us.

        A group of its own keeps a terminal's Ctrl-C away from the child, so the parent
        decides the order of shutdown; the death signal covers the parent's own death.
        """
        process = subprocess.Popen(list(args), preexec_fn=_preexec(new_session), **popen)  # noqa: PLW1509
        self.processes[name] = process
        return process

    def exited(self) -> tuple[str, int] | None:
        """The first child that has exited, as (name, exit code), or None if all run."""
        for name, process in self.processes.items():
            code = process.poll()
            if code is not None:
                return name, code
        return None

    def stop(self, grace_seconds: float = 5.0) -> None:
        """SIGTERM every child's group, then SIGKILL what is left after `grace_seconds`."""
        live = [p for p in self.processes.values() if p.poll() is None]
        for process in live:
            _signal_group(process, signal.SIGTERM)
        deadline = self._now() + grace_seconds
        while any(p.poll() is None for p in live) and self._now() < deadline:
            self._sleep(0.05)
        for process in live:
            if process.poll() is None:
                _signal_group(process, signal.SIGKILL)
        for process in live:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5)


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(sig)
