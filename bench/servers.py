"""The processes the API benchmark talks to: emulator, SoundBite on gunicorn, bare Flask.

SoundBite runs as the local stack runs it (`infra.local.stack`), with the rate limit raised
so the limiter keeps counting but never refuses the benchmark. The bare Flask app runs on
the same gunicorn settings, so the two differ only in application code.

Authentication is off (`SOUNDBITE_AUTH=off`, allowed in the local environment only): the load
generator (wrk's script and the Python fallback) sends the same request again and again and
has no per-request headers beyond the idempotency key, and the one part of authentication
a request pays for once the user pool's keys are cached is one RS256 signature check
(tens of microseconds against requests of milliseconds). The worker benchmark does not
touch the API at all.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
import uuid
from dataclasses import dataclass

from infra.local import emulator, stack

BENCH_RATE_LIMIT = "1000000 per minute"
"""High enough that no benchmark reaches it; the limiter still does all its per-request work."""


@dataclass
class GunicornApp:
    process: subprocess.Popen
    url: str

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout)


def start_bare_flask(body: str, env: dict[str, str]) -> GunicornApp:
    """The framework floor on SoundBite's gunicorn settings, answering `body`."""
    port = emulator.free_port()
    env = {**env, "SOUNDBITE_BIND": f"127.0.0.1:{port}", "BENCH_BARE_BODY": body}
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "python:service.gunicorn_conf", "bench.bare_wsgi:app"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        stack.wait_for_http(f"{url}/v1/soundbites/x", 30.0, process)
    except stack.LocalStackError:
        process.kill()
        raise
    return GunicornApp(process, url)


def soundbite_stack() -> stack.LocalStack:
    """Emulator and data plane; add the API lane with `add_lane(..., worker=False)`."""
    return stack.LocalStack(environment="local", extra_env={
        "SOUNDBITE_RATE_LIMIT": BENCH_RATE_LIMIT, "SOUNDBITE_BACKEND": "ec2", "SOUNDBITE_AUTH": "off"})


def post_json(url: str, body: str, key: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body.encode(), method="POST", headers={
        "Content-Type": "application/json", "Idempotency-Key": key or str(uuid.uuid4())})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


def get_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()
