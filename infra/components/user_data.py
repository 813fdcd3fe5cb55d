"""The EC2 launch script: run the one SoundBite image as the API or the worker.

Plain text from plain values, so it is tested without Pulumi (and its `docker run` line is
run against a real Docker daemon in tests/infra/test_image.py). The AMI is Amazon's
ECS-optimized Amazon Linux 2023, which ships Docker, so nothing is installed at boot.

Only log options Docker's own awslogs driver knows are passed (`awslogs-stream-prefix` is
the ECS agent's, and Docker refuses it). Each container logs to the stream
`<role>/<instance id>`. Docker's stop timeout matches ECS's, so an ASG scale-in gives the
worker the same grace period a Fargate task gets.
"""

from __future__ import annotations

import shlex

from soundbite import spec

ROLES = {"api": ("soundbite", "api"), "worker": ("soundbite", "worker")}
IMDS = "http://169.254.169.254/latest"


def docker_run(role: str, image: str, region: str, log_group: str, env_file: str,
               stream: str) -> str:
    """The `docker run` line of the launch script (one line, no shell variables but `stream`)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {sorted(ROLES)}")
    # The image's HEALTHCHECK probes the API port; the worker has none, so turn it off there.
    ports = [f"-p {spec.API_PORT}:{spec.API_PORT}"] if role == "api" else ["--no-healthcheck"]
    words = [
        "docker run -d", f"--name soundbite-{role}", "--restart always",
        f"--env-file {shlex.quote(env_file)}", f"--stop-timeout {spec.ECS_STOP_TIMEOUT_SECONDS}",
        *ports, "--log-driver awslogs", f"--log-opt awslogs-region={shlex.quote(region)}",
        f"--log-opt awslogs-group={shlex.quote(log_group)}",
        f"--log-opt awslogs-stream={stream}",
        shlex.quote(image), *ROLES[role],
    ]
    return " ".join(words)


def user_data(role: str, image: str, environment: dict[str, str], region: str, log_group: str) -> str:
    """A cloud-init shell script that pulls `image` and runs `soundbite <role>` under Docker."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {sorted(ROLES)}")
    registry = image.split("/", 1)[0]
    env_lines = "\n".join(f"{k}={v}" for k, v in sorted(environment.items()))
    login = ""
    if ".dkr.ecr." in registry:
        login = (
            "command -v aws >/dev/null || dnf install -y awscli-2\n"
            f"aws ecr get-login-password --region {shlex.quote(region)} | "
            f"docker login --username AWS --password-stdin {shlex.quote(registry)}\n"
        )
    run = docker_run(role, image, region, log_group, "/etc/soundbite.env", f'"{role}/$instance"')
    return f"""#!/bin/bash
set -euo pipefail
# The ECS-optimized AMI starts its ECS agent; these instances are not in a cluster.
systemctl disable --now ecs 2>/dev/null || true
systemctl enable --now docker
token=$(curl -sf -X PUT {IMDS}/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')
instance=$(curl -sf -H "X-aws-ec2-metadata-token: $token" {IMDS}/meta-data/instance-id)
umask 077
cat > /etc/soundbite.env <<'SOUNDBITE_ENV'
{env_lines}
SOUNDBITE_ENV
{login}docker pull {shlex.quote(image)}
{run}
"""
