"""The API's voice catalog comes from the core: the same voices as before, and no worker.

GET /v1/voices lists what the engine's catalog offers (espeak's curated list; Polly's
DescribeVoices on the emulator's Polly), POST refuses a voice outside it with a 400, and the
API's process (`import soundbite.wsgi`, what gunicorn loads) imports no `worker` module.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import boto3
import pytest

from infra.local.emulator import LOCAL_CREDENTIALS, LOCAL_REGION
from soundbite import spec
from soundbite.core.synth.catalog import build_catalog
from tests.service.conftest import auth_env

# What GET /v1/voices has always listed for espeak (the curated list, every voice of which the
# image's espeak-ng data has): id, name, language, in this order, the default first.
ESPEAK_VOICES = [
    {"id": "en-us", "name": "English (America)", "language": "en-US"},
    {"id": "en-us-f", "name": "English (America), female", "language": "en-US"},
    {"id": "en-gb", "name": "English (Great Britain)", "language": "en-GB"},
    {"id": "en-gb-f", "name": "English (Great Britain), female", "language": "en-GB"},
    {"id": "de", "name": "German", "language": "de-DE"},
    {"id": "fr", "name": "French (France)", "language": "fr-FR"},
    {"id": "es", "name": "Spanish (Spain)", "language": "es-ES"},
]


def post(client, body):
    return client.post("/v1/soundbites", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})


def listed(voices) -> list[dict]:
    return [{"id": v.id, "name": v.name, "language": v.language} for v in voices]


def polly_client(endpoint: str):
    return boto3.client("polly", endpoint_url=endpoint, region_name=LOCAL_REGION,
                        aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])


# --- espeak ---------------------------------------------------------------------------------


def test_espeak_voices_are_the_curated_list_the_worker_speaks(client):
    from worker.synth.espeak import EspeakSynthesizer

    body = client.get("/v1/voices").get_json()
    assert body["voices"] == ESPEAK_VOICES
    # The worker's synthesizer checks each curated voice against the engine's data: the API,
    # which does not load the engine, lists exactly the voices the worker can speak.
    worker = EspeakSynthesizer()
    assert body["voices"] == listed(worker.voices())
    assert body["formats"] == list(worker.formats())
    assert spec.DEFAULT_FORMAT in body["formats"]


def test_espeak_post_takes_a_curated_voice_and_refuses_an_unknown_one(client):
    assert post(client, {"text": "Hallo", "voice": "de"}).status_code == 202
    assert post(client, {"text": "Hello"}).get_json()["voice"] == spec.DEFAULT_VOICE
    refused = post(client, {"text": "Hello", "voice": "Joanna"})
    assert refused.status_code == 400
    assert [e["pointer"] for e in refused.get_json()["errors"]] == ["/voice"]


# --- Polly (the emulator's: moto answers DescribeVoices) ---------------------------------------


@pytest.fixture
def polly_app(make_app, moto_polly):
    client = polly_client(moto_polly.endpoint)
    return make_app(synthesizer="polly", catalog=build_catalog("polly", polly_client=client)), client


def described(client) -> list[dict]:
    """GET /v1/voices as it has always been for Polly, from DescribeVoices itself: each voice
    on the neural or the standard engine, by language then id."""
    voices, request = [], {}
    while True:
        page = client.describe_voices(**request)
        voices += [v for v in page["Voices"]
                   if {"neural", "standard"} & set(v.get("SupportedEngines", []))]
        if not page.get("NextToken"):
            break
        request = {"NextToken": page["NextToken"]}
    voices.sort(key=lambda v: (v["LanguageCode"], v["Id"]))
    return [{"id": v["Id"], "name": v.get("Name", v["Id"]), "language": v["LanguageCode"]}
            for v in voices]


def test_polly_voices_come_from_describe_voices(polly_app):
    app, client = polly_app
    body = app.test_client().get("/v1/voices").get_json()
    assert body["voices"] == described(client)
    assert len(body["voices"]) > 20
    assert {"id": "Joanna", "name": "Joanna", "language": "en-US"} in body["voices"]
    assert body["formats"] == ["wav", "mp3", "ogg"]


def test_polly_post_takes_a_polly_voice_and_refuses_an_espeak_one(polly_app):
    app, _ = polly_app
    client = app.test_client()
    assert post(client, {"text": "Hello", "voice": "Joanna"}).status_code == 202
    assert post(client, {"text": "Hello"}).get_json()["voice"] == "Joanna"
    refused = post(client, {"text": "Hello", "voice": "en-us"})
    assert refused.status_code == 400
    assert [e["pointer"] for e in refused.get_json()["errors"]] == ["/voice"]


# --- the API's process ----------------------------------------------------------------------

IMPORT_WSGI = """
import json, sys
import soundbite.wsgi
catalog = soundbite.wsgi.app.extensions["soundbite"]["catalog"]
print(json.dumps({
    "worker": sorted(m for m in sys.modules if m == "worker" or m.startswith("worker.")),
    "espeak_loaded": "espeakng_loader" in sys.modules,
    "voices": [v.id for v in catalog.voices()],
}))
"""


@pytest.mark.parametrize("synthesizer", ["espeak", "polly"])
def test_importing_the_wsgi_entry_imports_no_worker_module(
        fresh_data_plane, aws_emulator, moto_polly, synthesizer):
    env = {**os.environ, **aws_emulator.env, **fresh_data_plane.service_env(),
           **auth_env(aws_emulator.endpoint), "SOUNDBITE_SYNTHESIZER": synthesizer,
           "SOUNDBITE_FORCE_HTTPS": "false", "SOUNDBITE_TRUSTED_PROXIES": "1",
           "AWS_ENDPOINT_URL_POLLY": moto_polly.endpoint}
    run = subprocess.run([sys.executable, "-c", IMPORT_WSGI], env=env, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    loaded = json.loads(run.stdout.strip().splitlines()[-1])
    assert loaded["worker"] == []
    assert not loaded["espeak_loaded"], "the API lists espeak's voices without libespeak-ng"
    expected = [v["id"] for v in ESPEAK_VOICES] if synthesizer == "espeak" else (
        [v["id"] for v in described(polly_client(moto_polly.endpoint))])
    assert loaded["voices"] == expected
