"""Run moto's server in its own process on a loopback port.

Its own process, so the API and the worker do not share an interpreter lock with it, and
everything talks to it over real HTTP exactly as it would talk to AWS.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

LOCAL_REGION = "us-east-1"
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


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


@dataclass
class Emulator:
    """A running moto server process."""

    process: subprocess.Popen
    endpoint: str

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

    def stop(self, timeout: float = 5.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)


def wait_until_ready(endpoint: str, timeout: float = 30.0, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise EmulatorError(f"the emulator exited with code {process.returncode} while starting")
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=2):
                return
        except OSError as exc:
            last = exc
            time.sleep(0.1)
    raise EmulatorError(f"the emulator at {endpoint} did not answer within {timeout:.0f} s: {last}")


ECS_RUNNING_TASKS = 2
"""The emulator reports this many running tasks for every ECS service (it runs none itself);
2 is the phase table's default full capacity, so a fully scaled service looks healthy."""


def start(port: int | None = None, host: str = "127.0.0.1", log_path: str | None = None,
          ecs_running_tasks: int = ECS_RUNNING_TASKS) -> Emulator:
    """Start a moto server and wait until it answers."""
    port = port or free_port(host)
    env = {**os.environ, **LOCAL_CREDENTIALS, "MOTO_ECS_SERVICE_RUNNING": str(ecs_running_tasks)}
    env.pop("AWS_ENDPOINT_URL", None)
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)],
        stdout=log, stderr=log, env=env, start_new_session=True,
    )
    endpoint = f"http://{host}:{port}"
    try:
        wait_until_ready(endpoint, process=process)
    except EmulatorError:
        process.kill()
        raise
    return Emulator(process, endpoint)


@contextmanager
def running(port: int | None = None, log_path: str | None = None) -> Iterator[Emulator]:
    emulator = start(port, log_path=log_path)
    try:
        yield emulator
    finally:
        emulator.stop()
