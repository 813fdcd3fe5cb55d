"""Schemathesis fuzzes every operation of /openapi.json on a real gunicorn server on the emulator.

Every check it has runs: no 5xx, status codes, content types, headers and bodies (problem
bodies included) conform to the document, schema-valid requests are accepted and invalid
ones refused. The short form runs in CI; the long one is a soak.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from openapi_spec_validator import validate

CONFIG = Path(__file__).with_name("schemathesis.toml")
CI_EXAMPLES = 15
SOAK_SECONDS = 480
SEED = 20240601


def schemathesis(url: str, *args: str, cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    """Run authenticated: the document's bearer scheme, with a real token of the lane's pool."""
    from tests.verify.conftest import LANE_TOKENS

    args = ("--header", f"Authorization: Bearer {LANE_TOKENS[url]}", *args)
    # One worker: with several threads, hypothesis's lambda introspection trips over a
    # CPython 3.11 ast.parse race ("AST constructor recursion depth mismatch").
    argv = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "run",
            f"{url}/openapi.json", "--checks", "all", "--workers", "1", "--no-color",
            "--seed", str(SEED), "--request-timeout", "30", *args]
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def assert_clean(result: subprocess.CompletedProcess, deployment) -> None:
    report = result.stdout[-6000:] + result.stderr[-2000:]
    assert result.returncode == 0, f"schemathesis found problems:\n{report}"
    summary = result.stdout.rsplit("SUMMARY", 1)[-1]
    assert "Failures:" not in summary and "Errors:" not in summary, report
    assert "unhandled error" not in deployment.log_text()


@pytest.mark.verify
def test_the_document_is_valid_openapi_and_names_what_the_server_accepts(deployment):
    import json
    import urllib.request

    lane = deployment.lane()
    with urllib.request.urlopen(f"{lane.url}/openapi.json") as response:
        document = json.load(response)
    validate(document)
    with urllib.request.urlopen(f"{lane.url}/v1/voices") as response:
        catalog = json.load(response)
    body = document["components"]["schemas"]["CreateSoundbite"]["properties"]
    assert body["voice"]["enum"] == [v["id"] for v in catalog["voices"]]
    assert body["format"]["enum"] == catalog["formats"]


@pytest.mark.verify
@pytest.mark.timeout(240)
def test_every_operation_conforms_to_the_document(deployment, tmp_path):
    lane = deployment.lane()
    result = schemathesis(lane.url, "--max-examples", str(CI_EXAMPLES), cwd=tmp_path, timeout=200)
    assert_clean(result, deployment)
    assert "9 selected / 9 total" in result.stdout  # every operation, none filtered out


@pytest.mark.verify
@pytest.mark.timeout(120)
def test_rate_limited_answers_conform_too(deployment, tmp_path):
    """With a tiny limit most answers are 429: their problem bodies and headers must match.

    The limit counts before sign-in, so past it a request with bad credentials is a 429 too,
    not the 401 `ignored_auth` expects; the unlimited runs check authentication."""
    lane = deployment.lane(SOUNDBITE_RATE_LIMIT="5 per hour")
    result = schemathesis(lane.url, "--max-examples", "5", "--phases", "fuzzing",
                          "--exclude-checks", "ignored_auth",
                          "--include-operation-id", "listVoices",
                          "--include-operation-id", "getSoundbite",
                          "--include-operation-id", "createSoundbite",
                          cwd=tmp_path, timeout=100)
    assert_clean(result, deployment)


@pytest.mark.soak
@pytest.mark.timeout(SOAK_SECONDS + 120)
def test_a_long_fuzzing_run_finds_nothing(deployment, tmp_path):
    lane = deployment.lane(SOUNDBITE_WEB_WORKERS="2")
    result = schemathesis(lane.url, "--max-examples", "2000", "--max-time", str(SOAK_SECONDS),
                          cwd=tmp_path, timeout=SOAK_SECONDS + 60)
    assert_clean(result, deployment)
