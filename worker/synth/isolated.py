"""Synthesis in child processes the worker can stop: a time limit per job, and a hung engine
that holds only its own process.

A C engine stuck inside one call cannot be interrupted from Python, and libespeak-ng holds a
process-wide lock while it speaks, so a hang in the worker's own process would stop every
later synthesis there. Here each synthesis slot is a child process with an engine of its own;
the parent sends it (text, voice, format) over a pipe and waits at most the time limit. A
child that does not answer in time is killed and replaced, and the job gets an
`EngineTimeout` (transient: the handler's attempt budget decides what happens next).

Children are started with "spawn": the worker is multi-threaded, and forking it could copy a
lock some other thread holds.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection

from soundbite.core.synth.base import Audio, Synthesizer, Voice
from worker.exceptions import EngineTimeout, SynthesisError, WorkerError

log = logging.getLogger("soundbite.worker")

START_TIMEOUT_SECONDS = 60
"""How long a new child may take to load its engine before it counts as broken."""
_WARM = "warm"


def _serve(build: Callable[[], Synthesizer], conn: Connection, parent: int) -> None:
    """The child: one engine, one request at a time, until the pipe closes."""
    import signal

    from soundbite import children

    children.die_with_parent(parent=parent)  # a parent killed outright takes its engines along
    # Ctrl-C and a SIGTERM to the whole group are the parent's to handle: it lets this
    # synthesis finish within its grace period, and its own death ends this process.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    synthesizer = build()
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        try:
            if request == _WARM:
                synthesizer.voices()
                reply = ("ok", None)
            else:
                reply = ("ok", synthesizer.synthesize(*request))
        except WorkerError as exc:
            reply = ("error", exc)
        except Exception as exc:  # noqa: BLE001 - the parent decides; the child stays up
            reply = ("error", SynthesisError(f"{type(exc).__name__}: {exc}"))
        conn.send(reply)


class _Child:
    def __init__(self, context, build: Callable[[], Synthesizer]) -> None:
        self.conn, child_end = context.Pipe()
        self.process = context.Process(target=_serve, args=(build, child_end, os.getpid()),
                                       name="soundbite-synthesis", daemon=True)
        self.process.start()
        child_end.close()

    def call(self, request, time_limit: float):
        """The child's answer, or None when it gave none within `time_limit` (or died)."""
        try:
            self.conn.send(request)
            if not self.conn.poll(time_limit):
                return None
            return self.conn.recv()
        except (EOFError, OSError):
            return None

    def kill(self) -> None:
        self.process.kill()
        self.process.join(5)
        self.conn.close()


class IsolatedSynthesizer(Synthesizer):
    """A synthesizer whose every synthesis runs in a child process under a time limit.

    `build` makes the real synthesizer and must be picklable (a module-level function or a
    `functools.partial` of one): each child calls it once. `processes` children serve at
    once; a caller beyond that waits for one to come free.
    """

    def __init__(self, build: Callable[[], Synthesizer], *, processes: int, time_limit: float,
                 start_method: str = "spawn") -> None:
        self._build = build
        self._local: Synthesizer | None = None  # voices and formats, in this process
        self._local_lock = threading.Lock()
        self.time_limit = time_limit
        self.processes = processes
        self._context = multiprocessing.get_context(start_method)
        self._idle: queue.Queue[_Child | None] = queue.Queue()
        for _ in range(processes):
            self._idle.put(None)  # a slot whose child starts on first use
        self._closed = False
        # Children die with the thread that started them (soundbite.children), so one
        # long-lived thread starts them all, never a job's own short-lived thread.
        self._spawner = ThreadPoolExecutor(1, thread_name_prefix="synthesis-spawner")

    @property
    def local(self) -> Synthesizer:
        with self._local_lock:
            if self._local is None:
                self._local = self._build()
            return self._local

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.local.name

    @property
    def default_voice(self) -> str:  # type: ignore[override]
        return self.local.default_voice

    def voices(self) -> list[Voice]:
        return self.local.voices()

    def formats(self) -> tuple[str, ...]:
        return self.local.formats()

    def start(self) -> None:
        """Start every child and load its engine now, so the first jobs do not wait for it."""
        slots = [self._idle.get() for _ in range(self.processes)]
        try:
            for i, child in enumerate(slots):
                slots[i] = child or self._spawn()
                answer = slots[i].call(_WARM, START_TIMEOUT_SECONDS)
                if answer is None or answer[0] != "ok":
                    raise SynthesisError(f"a synthesis process failed to start: {answer and answer[1]}")
        finally:
            for child in slots:
                self._idle.put(child)

    def synthesize(self, text: str, voice: str, fmt: str) -> Audio:
        """Synthesize in a child; raises EngineTimeout when it takes longer than the limit."""
        child = self._idle.get()
        try:
            if child is None:
                child = self._spawn()
            answer = child.call((text, voice, fmt), self.time_limit)
            if answer is None:
                alive = child.process.is_alive()
                child.kill()
                child = None
                if alive:
                    raise EngineTimeout(
                        f"synthesis took longer than its limit of {self.time_limit:g} s; stopped")
                raise SynthesisError("the synthesis process died")
            kind, value = answer
            if kind == "error":
                raise value
            return value
        finally:
            self._idle.put(child)

    def _synthesize(self, text: str, voice: str, fmt: str) -> Audio:  # pragma: no cover
        raise NotImplementedError("synthesize runs in a child process")

    def _spawn(self) -> _Child:
        if self._closed:
            raise SynthesisError("the synthesizer is closed")
        return self._spawner.submit(_Child, self._context, self._build).result()

    def close(self) -> None:
        """Stop every idle child (a running one is stopped when its synthesis returns)."""
        self._closed = True
        taken = 0
        while True:
            try:
                child = self._idle.get_nowait()
            except queue.Empty:
                break
            taken += 1
            if child is not None:
                child.kill()
        for _ in range(taken):
            self._idle.put(None)
