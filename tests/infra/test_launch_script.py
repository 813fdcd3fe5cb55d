"""The EC2 launch script, without Docker: only options Docker's awslogs driver knows, the
image pulled before it runs, the same stop timeout as ECS. (tests/infra/test_image.py runs
its `docker run` line against a real daemon.)"""

import re
import shlex

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
