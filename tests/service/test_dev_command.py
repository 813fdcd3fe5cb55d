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
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
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
