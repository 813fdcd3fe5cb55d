"""The image, built and run against a real Docker daemon (skipped when none answers).

Builds the Dockerfile, checks the runtime image stays lean, runs the API and the worker
containers against the emulator (moto on loopback, `--network host`) and takes one soundbite
to `ready`; then runs the EC2 launch script's `docker run` line so the daemon judges its
log options exactly as an instance's Docker would.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from infra.components.user_data import user_data
from infra.local import bootstrap, emulator
from soundbite import spec

ROOT = Path(__file__).resolve().parents[2]
TAG = "soundbite:test"
MAX_IMAGE_BYTES = 400 * 1000 * 1000


def _daemon() -> str | None:
    docker = shutil.which("docker")
    if not docker:
        return "no docker CLI on PATH"
    probe = subprocess.run([docker, "info", "--format", "{{.ServerVersion}}"], capture_output=True,
                           text=True, timeout=30)
    return None if probe.returncode == 0 else "no Docker daemon answers (docker info failed)"


_REASON = _daemon()
pytestmark = [pytest.mark.skipif(_REASON is not None, reason=_REASON or ""),
              pytest.mark.xdist_group("docker"),
              pytest.mark.timeout(1500)]  # the first test builds the image cold (up to 1200 s)


def docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args[:3])}... failed:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def image() -> str:
    docker("build", "--network", "host", "-t", TAG, str(ROOT), timeout=1200)
    return TAG


def test_the_runtime_image_is_lean_and_holds_no_toolkit(image):
    size = int(docker("image", "inspect", "--format", "{{.Size}}", image).stdout)
    assert size <= MAX_IMAGE_BYTES, f"image is {size / 1e6:.0f} MB"
    probe = "import importlib.util as u; print([m for m in ('pulumi', 'pulumi_aws', 'moto', 'matplotlib') if u.find_spec(m)])"
    assert docker("run", "--rm", image, "python", "-c", probe).stdout.strip() == "[]"
    hint = docker("run", "--rm", image, "soundbite", "rehearse", check=False)
    assert hint.returncode == 1 and "soundbite[toolkit]" in hint.stderr, hint.stderr
    # `dlq --config` reads the toolkit's target file: one line naming the extra, no traceback
    config = docker("run", "--rm", image, "soundbite", "dlq", "--config", "/nowhere.json", "inspect",
                    check=False)
    assert config.returncode == 1 and "soundbite[toolkit]" in config.stderr, config.stderr
    assert "Traceback" not in config.stderr


def _wait(predicate, what: str, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except (urllib.error.URLError, ConnectionError, OSError) as exc:
            last = exc
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what} (last error: {last})")


def _request(url: str, body: dict | None = None) -> tuple[int, dict]:
    headers = {"X-Forwarded-Proto": "https", "Content-Type": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Idempotency-Key"] = str(uuid.uuid4())
    request = urllib.request.Request(url, data=data, headers=headers, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@pytest.fixture
def containers(image):
    names: list[str] = []
    yield names
    for name in names:
        logs = docker("logs", "--tail", "30", name, check=False)
        print(f"--- {name}\n{logs.stdout}{logs.stderr}")
        docker("rm", "-f", name, check=False)


def test_api_and_worker_containers_take_a_soundbite_to_ready(image, containers, tmp_path):
    with emulator.running() as em:
        # A fresh emulator of its own, so the local environment's names are free; local, so
        # the API runs without a user pool (SOUNDBITE_AUTH=off), as in the compose file.
        plane = bootstrap.bootstrap(em.endpoint, environment="local")
        port = emulator.free_port()
        env = {
            **em.env, "SOUNDBITE_ENVIRONMENT": plane.environment, "SOUNDBITE_BACKEND": "ec2",
            "SOUNDBITE_TABLE": plane.soundbites_table,
            "SOUNDBITE_IDEMPOTENCY_TABLE": plane.idempotency_table, "SOUNDBITE_BUCKET": plane.bucket,
            "SOUNDBITE_QUEUE_URL": plane.queue_url, "SOUNDBITE_DLQ_URL": plane.dlq_url,
            "SOUNDBITE_SYNTHESIZER": "espeak", "SOUNDBITE_TRUSTED_PROXIES": "1",
            "SOUNDBITE_AUTH": "off", "SOUNDBITE_CURSOR_SECRET": uuid.uuid4().hex,
            "SOUNDBITE_BIND": f"127.0.0.1:{port}",
        }
        env_file = tmp_path / "soundbite.env"
        env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        for role in ("api", "worker"):
            name = f"soundbite-test-{role}-{uuid.uuid4().hex[:6]}"
            containers.append(name)
            docker("run", "-d", "--name", name, "--network", "host", "--env-file", str(env_file),
                   image, "soundbite", role)
        base = f"http://127.0.0.1:{port}"
        _wait(lambda: _request(f"{base}/healthz")[0] == 200, "the API's liveness route")
        status, created = _request(f"{base}/v1/soundbites", {"text": "Hello from the image."})
        assert status in (201, 202), created
        location = f"{base}/v1/soundbites/{created['id']}"
        done = _wait(lambda: (lambda r: r if r[1].get("status") in ("ready", "failed") else None)(
            _request(location)), "the soundbite to be synthesized")
        assert done[1]["status"] == "ready", done


def _launch_line(role: str) -> str:
    script = user_data(role, TAG, {"SOUNDBITE_ENVIRONMENT": "test"}, "us-east-1", "/soundbite-test/ec2")
    [line] = [ln for ln in script.splitlines() if ln.startswith("docker run ")]
    return line.replace("$instance", "i-0123456789abcdef0")


@pytest.mark.parametrize("role", ["api", "worker"])
def test_the_launch_scripts_docker_run_line_is_accepted_by_docker(image, containers, tmp_path, role):
    """`docker create` with the script's exact options: the daemon checks the log driver's
    options here (an unknown one fails with `unknown log opt`). Nothing starts, so no
    CloudWatch is needed."""
    words = shlex.split(_launch_line(role))
    assert words[:3] == ["docker", "run", "-d"]
    name = words[words.index("--name") + 1] + f"-{uuid.uuid4().hex[:6]}"
    words[words.index("--name") + 1] = name
    env_file = tmp_path / "soundbite.env"
    env_file.write_text("SOUNDBITE_ENVIRONMENT=test\n")
    words[words.index("--env-file") + 1] = str(env_file)
    containers.append(name)
    created = docker("create", *words[3:], check=False)
    assert created.returncode == 0, created.stderr
    config = json.loads(docker("inspect", name).stdout)[0]["HostConfig"]
    assert config["LogConfig"]["Type"] == "awslogs"
    assert config["LogConfig"]["Config"]["awslogs-stream"] == f"{role}/i-0123456789abcdef0"
    assert spec.ECS_STOP_TIMEOUT_SECONDS == 30
