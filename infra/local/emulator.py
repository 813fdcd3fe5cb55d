"""The local AWS emulator behind one small interface: start, endpoint, readiness, reset, stop.

Two emulators play AWS locally, each a server in its own process on a loopback port, so the
API and the worker do not share an interpreter lock with it and everything talks to it over
real HTTP exactly as it would talk to AWS:

- `ministack` (the default): CloudWatch percentiles and evaluated alarms, Route 53 changes
  that answer PENDING before INSYNC, ECS services that count their own tasks, Cognito with
  tokens its JWKS verifies. It runs from an environment of its own (`infra.local.ministack`).
- `moto`: moto's server, from SoundBite's own environment.

`SOUNDBITE_EMULATOR=moto|ministack` selects one for `soundbite dev`, `soundbite rehearse`,
`soundbite emulator` and the tests.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

LOCAL_REGION = "us-east-1"
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
SELECT_VARIABLE = "SOUNDBITE_EMULATOR"
MOTO, MINISTACK = "moto", "ministack"
KINDS = (MOTO, MINISTACK)
DEFAULT_KIND = MINISTACK


class EmulatorError(RuntimeError):
    """The emulator did not start or stopped answering."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def aws_env(endpoint: str) -> dict[str, str]:
    """Environment that points boto3 (and so every SoundBite process) at the emulator."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": LOCAL_REGION,
        "AWS_REGION": LOCAL_REGION,
        **LOCAL_CREDENTIALS,
    }


def selected(kind: str | None = None) -> str:
    """The emulator to run: `kind`, else `SOUNDBITE_EMULATOR`, else the default."""
    kind = (kind or os.environ.get(SELECT_VARIABLE) or DEFAULT_KIND).strip().lower()
    if kind not in KINDS:
        raise EmulatorError(f"{SELECT_VARIABLE}={kind!r}: choose one of {', '.join(KINDS)}")
    return kind


@dataclass(frozen=True)
class Flavour:
    """What differs between emulators: where readiness and reset are asked."""

    kind: str
    ready_path: str
    reset_path: str


FLAVOURS = {
    MOTO: Flavour(MOTO, "/moto-api/data.json", "/moto-api/reset"),
    MINISTACK: Flavour(MINISTACK, "/_ministack/ready", "/_ministack/reset"),
}


@dataclass
class Emulator:
    """A running emulator process."""

    process: subprocess.Popen
    endpoint: str
    kind: str = MOTO
    state_dir: str | None = None
    _log: object = field(default=None, repr=False)

    @property
    def flavour(self) -> Flavour:
        return FLAVOURS[self.kind]

    @property
    def env(self) -> dict[str, str]:
        return aws_env(self.endpoint)

    def client(self, service: str):
        """A boto3 client for this emulator, whatever this process's own environment says."""
        import boto3

        return boto3.session.Session(
            aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=LOCAL_REGION,
        ).client(service, endpoint_url=self.endpoint)

    def alive(self) -> bool:
        return self.process.poll() is None

    def ready(self, timeout: float = 2.0) -> bool:
        """The emulator answers its readiness address with a success."""
        try:
            with urllib.request.urlopen(self.endpoint + self.flavour.ready_path, timeout=timeout) as rsp:
                return 200 <= rsp.status < 300
        except OSError:
            return False

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise EmulatorError(f"the {self.kind} emulator exited with code "
                                    f"{self.process.returncode} while starting")
            if self.ready():
                return
            time.sleep(0.1)
        raise EmulatorError(f"the {self.kind} emulator at {self.endpoint} did not answer "
                            f"within {timeout:.0f} s")

    def reset(self) -> None:
        """Forget every resource (tables, queues, zones, alarms...): a clean emulator."""
        request = urllib.request.Request(self.endpoint + self.flavour.reset_path, data=b"",
                                         method="POST")
        with urllib.request.urlopen(request, timeout=30) as rsp:
            if rsp.status >= 300:
                raise EmulatorError(f"reset answered {rsp.status}")

    def stop(self, timeout: float = 5.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.state_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)


def _moto_command(host: str, port: int) -> tuple[list[str], dict[str, str]]:
    return [sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)], {}


def start(port: int | None = None, host: str = "127.0.0.1", log_path: str | None = None,
          kind: str | None = None, timeout: float = 60.0, preexec_fn=None) -> Emulator:
    """Start the selected emulator on `host` (loopback) and wait until it answers.

    `preexec_fn` runs in the child before the emulator starts (e.g.
    `soundbite.children.bound_to_this_process()`)."""
    kind = selected(kind)
    port = port or free_port(host)
    env = {**os.environ, **LOCAL_CREDENTIALS}
    env.pop("AWS_ENDPOINT_URL", None)
    log = open(log_path, "ab") if log_path else None  # noqa: SIM115
    out = log or subprocess.DEVNULL
    state = None
    if kind == MINISTACK:
        from infra.local import ministack

        ministack.ensure_installed(log=log)
        state = ministack.state_dir()
        argv = ministack.command(host, port)
        env.update(ministack.environment(host, port, state))
    else:
        argv, extra = _moto_command(host, port)
        env.update(extra)
    process = subprocess.Popen(argv, stdout=out, stderr=out, env=env, start_new_session=True,
                               cwd=state, preexec_fn=preexec_fn)  # noqa: PLW1509
    emulator = Emulator(process, f"http://{host}:{port}", kind, state, log)
    try:
        emulator.wait_ready(timeout)
    except EmulatorError:
        emulator.stop(timeout=1)
        raise
    return emulator


@contextmanager
def running(port: int | None = None, log_path: str | None = None,
            kind: str | None = None) -> Iterator[Emulator]:
    emulator = start(port, log_path=log_path, kind=kind)
    try:
        yield emulator
    finally:
        emulator.stop()
