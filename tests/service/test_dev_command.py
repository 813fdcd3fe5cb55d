"""`soundbite dev`: the whole local stack from one command, and a clean stop on SIGTERM."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

import pytest
import soundfile

from infra.local.emulator import free_port
from tests.signals import interruptible


def request(url: str, body: dict | None = None, token: str = "") -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())}
    headers = headers if data else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, headers=headers)
    with urllib.request.urlopen(req, timeout=10) as response:
        return response.status, json.loads(response.read())


@pytest.mark.timeout(120)
def test_dev_serves_creates_synthesizes_and_stops_cleanly(tmp_path):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "soundbite.cli", "dev", "--port", str(port),
         "--log-dir", str(tmp_path / "logs")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=interruptible)
    base = f"http://127.0.0.1:{port}"
    try:
        for line in process.stdout:
            if "SoundBite is up" in line:
                break
        else:
            pytest.fail("soundbite dev exited before it was up")
        token = subprocess.run(
            [sys.executable, "-m", "soundbite.cli", "dev", "--log-dir", str(tmp_path / "logs"),
             "token", "--user", "dana"], capture_output=True, text=True, check=True,
            timeout=30).stdout.strip()
        assert token.count(".") == 2, token
        with pytest.raises(urllib.error.HTTPError) as anonymous:
            request(f"{base}/v1/soundbites", {"text": "Nobody signed in"})
        assert anonymous.value.code == 401
        status, created = request(f"{base}/v1/soundbites", {"text": "Hello from the dev stack"},
                                  token)
        assert status == 202 and created["status"] == "pending"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            _, current = request(f"{base}/v1/soundbites/{created['id']}", token=token)
            if current["status"] == "ready":
                break
            time.sleep(0.3)
        assert current["status"] == "ready", current
        with urllib.request.urlopen(current["audio_url"], timeout=10) as audio:
            assert audio.headers["Content-Type"] == "audio/mpeg"
            samples, rate = soundfile.read(io.BytesIO(audio.read()))
        assert len(samples) / rate == pytest.approx(current["duration_seconds"], rel=0.1)
        process.send_signal(signal.SIGTERM)
        assert process.wait(45) == 0
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(f"{base}/healthz", timeout=2)
    finally:
        if process.poll() is None:
            process.kill()


def start_dev(tmp_path, port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "soundbite.cli", "dev", "--port", str(port),
         "--log-dir", str(tmp_path / "logs")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=interruptible)
    for line in process.stdout:
        if "SoundBite is up" in line:
            return process
    pytest.fail("soundbite dev exited before it was up")


def descendants(pid: int) -> list:
    import psutil

    return psutil.Process(pid).children(recursive=True)


def wait_gone(processes: list, timeout: float) -> list:
    import psutil

    _, alive = psutil.wait_procs(processes, timeout=timeout)
    return [f"{p.pid} {' '.join(p.cmdline()[:4])}" for p in alive if p.is_running()]


def test_dev_on_a_busy_port_says_so_in_one_line_and_exits_5(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "soundbite.cli", "dev", "--port", str(port),
             "--log-dir", str(tmp_path / "logs")], capture_output=True, text=True, timeout=60)

    assert result.returncode == 5
    assert result.stderr.strip().splitlines() == [
        f"Error: port {port} on 127.0.0.1 is in use; stop what listens there or pass --port"]
    assert not (tmp_path / "logs" / "emulator.log").exists(), "nothing was started"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_dev_stops_with_its_children_within_seconds(tmp_path, sig):
    process = start_dev(tmp_path, free_port())
    try:
        children = descendants(process.pid)
        assert len(children) >= 4, children  # emulator, gunicorn and its worker, the worker

        process.send_signal(sig)

        assert process.wait(15) == 0
        assert wait_gone(children, 5) == []
    finally:
        if process.poll() is None:
            process.kill()


@pytest.mark.timeout(120)
def test_dev_killed_outright_takes_its_children_with_it(tmp_path):
    process = start_dev(tmp_path, free_port())
    children = descendants(process.pid)
    assert len(children) >= 4, children

    process.kill()  # SIGKILL: no handler runs, nothing is stopped by hand
    process.wait(5)

    try:
        assert wait_gone(children, 15) == []
    finally:
        for child in children:  # a failed run must not leave them behind
            if child.is_running():
                child.kill()


@pytest.mark.timeout(120)
def test_dev_stops_everything_when_one_of_its_processes_dies(tmp_path):
    process = start_dev(tmp_path, free_port())
    try:
        children = descendants(process.pid)
        worker = next(p for p in children if "worker" in p.cmdline())
        worker.kill()

        assert process.wait(20) == 1
        assert "the worker exited" in process.stdout.read()
        assert wait_gone(children, 5) == []
    finally:
        if process.poll() is None:
            process.kill()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_dev_stopped_while_it_starts_exits_0_and_leaves_nothing_behind(tmp_path, sig):
    """A signal that lands before the banner (the emulator is up, the API is not) stops the
    same way as one that lands while it serves."""
    from tests.waiting import wait_for

    process = subprocess.Popen(
        [sys.executable, "-m", "soundbite.cli", "dev", "--port", str(free_port()),
         "--log-dir", str(tmp_path / "logs")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=interruptible)
    try:
        emulator = wait_for(lambda: next(iter(descendants(process.pid)), None), timeout=60,
                            what="the emulator to start")
        process.send_signal(sig)

        output = process.communicate(timeout=30)[0]
        assert process.returncode == 0, output
        assert "Traceback" not in output
        assert wait_gone([emulator], 10) == []
    finally:
        if process.poll() is None:
            process.kill()

