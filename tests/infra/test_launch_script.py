"""The EC2 launch script, without Docker: only options Docker's awslogs driver knows, the
image pulled before it runs, the same stop timeout as ECS. (tests/infra/test_image.py runs
its `docker run` line against a real daemon.)"""

import re
import shlex
import subprocess

import pytest

from infra.components.user_data import docker_run, user_data

# Docker's awslogs driver (docs.docker.com/engine/logging/drivers/awslogs): the options it
# accepts. `awslogs-stream-prefix` is not one of them: it belongs to the ECS agent.
DOCKER_AWSLOGS_OPTIONS = {
    "awslogs-region", "awslogs-endpoint", "awslogs-group", "awslogs-stream",
    "awslogs-create-group", "awslogs-datetime-format", "awslogs-multiline-pattern",
    "awslogs-credentials-endpoint", "awslogs-force-flush-interval-seconds",
    "awslogs-max-buffer-size", "awslogs-format", "mode", "max-buffer-size", "tag",
}
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/soundbite-dev@sha256:" + "a" * 64
ENV = {"SOUNDBITE_ENVIRONMENT": "dev", "SOUNDBITE_RATE_LIMIT": "100 per 15 minutes"}


def _run_line(script: str) -> str:
    [line] = [ln for ln in script.splitlines() if ln.startswith("docker run ")]
    return line


@pytest.mark.parametrize("role", ["api", "worker"])
def test_only_log_options_docker_knows(role):
    line = _run_line(user_data(role, IMAGE, ENV, "us-east-1", "/soundbite-dev/ec2"))
    words = shlex.split(line.replace("$instance", "i-1"))
    opts = [words[i + 1].split("=", 1)[0] for i, w in enumerate(words) if w == "--log-opt"]
    assert opts and set(opts) <= DOCKER_AWSLOGS_OPTIONS, opts
    assert words[words.index("--log-driver") + 1] == "awslogs"
    assert f"awslogs-stream={role}/i-1" in words
    assert "awslogs-group=/soundbite-dev/ec2" in words


def test_the_api_publishes_port_8080_and_the_worker_has_no_healthcheck():
    api = shlex.split(docker_run("api", IMAGE, "us-east-1", "/g", "/etc/soundbite.env", "s"))
    worker = shlex.split(docker_run("worker", IMAGE, "us-east-1", "/g", "/etc/soundbite.env", "s"))
    assert api[api.index("-p") + 1] == "8080:8080" and "--no-healthcheck" not in api
    assert "--no-healthcheck" in worker and "-p" not in worker
    assert api[-3:] == [IMAGE, "soundbite", "api"] and worker[-3:] == [IMAGE, "soundbite", "worker"]
    assert api[api.index("--stop-timeout") + 1] == "30"


def test_docker_comes_with_the_ami_and_the_image_is_pulled_after_an_ecr_login():
    script = user_data("api", IMAGE, ENV, "us-east-1", "/g")
    assert script.startswith("#!/bin/bash\nset -euo pipefail\n")
    assert "dnf install -y docker" not in script
    assert script.index("docker login") < script.index("docker pull") < script.index("docker run")
    assert re.search(r"^SOUNDBITE_RATE_LIMIT=100 per 15 minutes$", script, re.M)
    assert "docker login" not in user_data("api", "docker.io/library/soundbite:1", ENV, "us-east-1", "/g")


def test_an_unknown_role_is_refused():
    with pytest.raises(ValueError, match="unknown role"):
        user_data("cron", IMAGE, ENV, "us-east-1", "/g")


SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:soundbite-prod/cursor-secret-AbCd"
STUBS = {
    "systemctl": "exit 0",
    "curl": 'echo i-0123456789abcdef0',
    "dnf": 'echo "dnf $*" >> "$LOG"',
    "docker": 'echo "docker $*" >> "$LOG"; cat >/dev/null 2>&1 || true',
    # Secrets Manager answers with $SECRET, or fails when $SECRET is unset.
    "aws": ('echo "aws $*" >> "$LOG"\n'
            'case "$*" in *secretsmanager*) [ -n "${SECRET:-}" ] || exit 254; echo "$SECRET";; '
            '*) echo password;; esac'),
}


def _boot(tmp_path, script: str, secret: str | None):
    """Run a launch script under bash with the instance's commands stubbed out."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in STUBS.items():
        (bin_dir / name).write_text(f"#!/bin/bash\n{body}\n")
        (bin_dir / name).chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "LOG": str(tmp_path / "calls.log")}
    if secret is not None:
        env["SECRET"] = secret
    (tmp_path / "user-data.sh").write_text(script)
    result = subprocess.run(["bash", str(tmp_path / "user-data.sh")], env=env, capture_output=True,
                            text=True, timeout=60)
    calls = (tmp_path / "calls.log").read_text() if (tmp_path / "calls.log").exists() else ""
    return result, calls


def test_the_api_instance_fetches_its_secret_at_boot_into_a_private_env_file(tmp_path):
    env_file = tmp_path / "soundbite.env"
    script = user_data("api", IMAGE, ENV, "us-east-1", "/g", secrets={"SOUNDBITE_CURSOR_SECRET": SECRET_ARN},
                       env_file=str(env_file))
    assert "s3cr3t" not in script and SECRET_ARN in script
    result, calls = _boot(tmp_path, script, secret="s3cr3t-" + "x" * 40)
    assert result.returncode == 0, result.stderr
    lines = env_file.read_text().splitlines()
    assert f"SOUNDBITE_CURSOR_SECRET=s3cr3t-{'x' * 40}" in lines
    assert "SOUNDBITE_RATE_LIMIT=100 per 15 minutes" in lines
    assert env_file.stat().st_mode & 0o777 == 0o600
    assert f"--secret-id {SECRET_ARN} --query SecretString --output text" in calls
    [run] = [c for c in calls.splitlines() if c.startswith("docker run ")]
    assert f"--env-file {env_file}" in run
    assert "s3cr3t" not in result.stdout + result.stderr


def test_an_api_instance_that_cannot_read_its_secret_never_starts_the_api(tmp_path):
    script = user_data("api", IMAGE, ENV, "us-east-1", "/g", secrets={"SOUNDBITE_CURSOR_SECRET": SECRET_ARN},
                       env_file=str(tmp_path / "soundbite.env"))
    result, calls = _boot(tmp_path, script, secret=None)
    assert result.returncode != 0
    assert "docker run" not in calls


def test_a_variable_cannot_be_both_plain_and_secret():
    with pytest.raises(ValueError, match="both plain and secret"):
        user_data("api", IMAGE, {**ENV, "SOUNDBITE_CURSOR_SECRET": "x"}, "us-east-1", "/g",
                  secrets={"SOUNDBITE_CURSOR_SECRET": SECRET_ARN})
