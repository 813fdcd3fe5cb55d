"""The local stack end to end: a soundbite POSTed to a real gunicorn API is synthesized by a
real worker process and its audio plays from the presigned URL (what `soundbite dev` runs)."""

from __future__ import annotations

import io
import json
import os
import urllib.request
import uuid

import pytest
import soundfile

from infra.local import emulator
from infra.local.stack import Lane
from tests.service.conftest import auth_env, bearer
from tests.worker.conftest import TEXT_200, wait_for


@pytest.fixture
def lane(fresh_data_plane, aws_emulator, tmp_path):
    port = emulator.free_port()
    env = {**os.environ, **aws_emulator.env, **fresh_data_plane.service_env(),
           "SOUNDBITE_BACKEND": "local", "SOUNDBITE_BIND": f"127.0.0.1:{port}",
           "SOUNDBITE_FORCE_HTTPS": "false", "SOUNDBITE_WORKER_POLL_SECONDS": "1", "PYTHONUNBUFFERED": "1",
           **auth_env(aws_emulator.endpoint)}
    lane = Lane("local", port, env, tmp_path)
    try:
        lane.start_api()
        lane.start_worker()
        yield lane
    finally:
        lane.stop()


def call(url: str, body: dict | None = None) -> dict:
    headers = {"Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())} if body else {}
    headers.update(bearer())
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body else None, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_a_soundbite_created_through_the_api_becomes_ready_and_its_audio_plays(lane):
    created = call(f"{lane.url}/v1/soundbites", {"text": TEXT_200, "format": "ogg"})
    assert created["status"] == "pending"

    ready = wait_for(lambda: (sb := call(f"{lane.url}/v1/soundbites/{created['id']}"))["status"] == "ready" and sb,
                     timeout=30, interval=0.5, what="the soundbite to be ready")

    with urllib.request.urlopen(ready["audio_url"], timeout=10) as response:
        assert response.headers["Content-Type"] == "audio/ogg"
        audio = response.read()
    info = soundfile.info(io.BytesIO(audio))
    assert info.format == "OGG"
    assert abs(info.frames / info.samplerate - ready["duration_seconds"]) < 0.1
    assert lane.worker.poll() is None, "the worker keeps running"
