"""The local stack: the emulator, its data plane, and API and worker processes per lane.

`soundbite dev` runs one lane; the rehearsal runs two (`ec2` and `fargate`) that differ only
in `SOUNDBITE_BACKEND`. Every process is a real one (gunicorn, the worker loop), started in
its own session so it can be killed as a group.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from infra.local import bootstrap, cognito, emulator
from soundbite import spec
from soundbite.children import bound_to_this_process

POOL_FILE = "user-pool.json"
"""Where `soundbite dev` leaves its user pool (in its log directory) for `soundbite dev token`."""


class LocalStackError(RuntimeError):
    """A local process did not start or stopped unexpectedly."""


@dataclass
class Lane:
    """One backend's processes: a gunicorn API and a worker."""

    name: str
    port: int
    env: dict[str, str]
    log_dir: Path | None
    api: subprocess.Popen | None = None
    worker: subprocess.Popen | None = None
    bound: bool = False
    """Children die with this process even when it is killed outright (soundbite.children)."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _spawn(self, role: str, argv: list[str]) -> subprocess.Popen:
        log = open(self.log_dir / f"{self.name}-{role}.log", "ab") if self.log_dir else subprocess.DEVNULL  # noqa: SIM115
        return subprocess.Popen(argv, env=self.env, stdout=log, stderr=log, start_new_session=True,
                                preexec_fn=bound_to_this_process() if self.bound else None)  # noqa: PLW1509

    def start_api(self, wait: float = 30.0) -> None:
        self.api = self._spawn("api", [
            sys.executable, "-m", "gunicorn", "-c", "python:service.gunicorn_conf", "soundbite.wsgi:app",
        ])
        wait_for_http(f"{self.url}/healthz", wait, self.api)

    def start_worker(self) -> None:
        self.worker = self._spawn("worker", [sys.executable, "-m", "soundbite.cli", "worker"])

    def kill(self, role: str, sig: int = signal.SIGKILL) -> None:
        process = getattr(self, role)
        if process is not None and process.poll() is None:
            os.killpg(process.pid, sig)

    def processes(self) -> list[subprocess.Popen]:
        return [p for p in (self.worker, self.api) if p is not None and p.poll() is None]

    def stop(self, timeout: float = spec.ECS_STOP_TIMEOUT_SECONDS) -> None:
        stop_processes(self.processes(), timeout)


def stop_processes(processes: list[subprocess.Popen], timeout: float) -> None:
    """SIGTERM them all at once, then SIGKILL what is still running after `timeout`, as ECS does."""
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def wait_for_http(url: str, timeout: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise LocalStackError(f"the process behind {url} exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 500:
                    return
        except OSError:
            time.sleep(0.1)
    raise LocalStackError(f"{url} did not answer within {timeout:.0f} s")


@dataclass
class LocalStack:
    """The emulator plus lanes; use as a context manager so everything stops on exit."""

    environment: str = "local"
    log_dir: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    emulator: emulator.Emulator | None = None
    data_plane: bootstrap.DataPlane | None = None
    user_pool: cognito.LocalUserPool | None = None
    lanes: dict[str, Lane] = field(default_factory=dict)
    cursor_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    bound: bool = False
    """Every process it starts dies with the process that started it, even on SIGKILL; start
    the stack from a thread that lives as long as it (see soundbite.children)."""

    def __enter__(self) -> LocalStack:
        if self.log_dir:
            self.log_dir.mkdir(parents=True, exist_ok=True)
        log = str(self.log_dir / "emulator.log") if self.log_dir else None
        self.emulator = emulator.start(log_path=log, preexec_fn=bound_to_this_process() if self.bound else None)
        try:
            self.data_plane = bootstrap.bootstrap(self.emulator.endpoint, self.environment)
            self.user_pool = cognito.create_pool(self.emulator.client("cognito-idp"),
                                                 self.emulator.endpoint)
            if self.log_dir:
                self.user_pool.save(self.log_dir / POOL_FILE)
        except Exception:
            self.emulator.stop()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def lane_env(self, backend: str, port: int) -> dict[str, str]:
        # Clients connect to the lanes directly (or through the rehearsal's edge, which
        # forwards no X-Forwarded-For): no proxy hop to trust. One cursor secret for all lanes.
        return {
            **os.environ, **self.emulator.env, **self.data_plane.service_env(),
            **self.user_pool.service_env(), "SOUNDBITE_CURSOR_SECRET": self.cursor_secret,
            "SOUNDBITE_TRUSTED_PROXIES": "0",
            "SOUNDBITE_BACKEND": backend, "SOUNDBITE_BIND": f"127.0.0.1:{port}",
            "SOUNDBITE_FORCE_HTTPS": "false", "PYTHONUNBUFFERED": "1", **self.extra_env,
        }

    def token(self, username: str, kind: str = "IdToken") -> str:
        """A token of the stack's user pool for `username` (created on first use)."""
        return cognito.token_for(self.emulator.client("cognito-idp"), self.user_pool, username, kind)

    def add_lane(self, backend: str, port: int | None = None, worker: bool = True) -> Lane:
        port = port or emulator.free_port()
        lane = Lane(backend, port, self.lane_env(backend, port), self.log_dir, bound=self.bound)
        self.lanes[backend] = lane
        lane.start_api()
        if worker:
            lane.start_worker()
        return lane

    def stop(self) -> None:
        stop_processes([p for lane in self.lanes.values() for p in lane.processes()],
                       spec.ECS_STOP_TIMEOUT_SECONDS)
        if self.emulator:
            self.emulator.stop()
