"""The EC2 launch script: run the one SoundBite image as the API or the worker.

Plain text from plain values, so it is tested without Pulumi. Docker's stop timeout matches
ECS's, so an ASG scale-in gives the worker the same grace period a Fargate task gets.
"""

from __future__ import annotations

import shlex

from soundbite import spec

ROLES = {"api": ("soundbite", "api"), "worker": ("soundbite", "worker")}


def user_data(role: str, image: str, environment: dict[str, str], region: str, log_group: str) -> str:
    """A cloud-init shell script that installs Docker, pulls `image` and runs `soundbite <role>`."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {sorted(ROLES)}")
    registry = image.split("/", 1)[0]
    env_lines = "\n".join(f"{k}={v}" for k, v in sorted(environment.items()))
    # The image's HEALTHCHECK probes the API port; the worker has none, so turn it off there.
    ports = f"-p {spec.API_PORT}:{spec.API_PORT} " if role == "api" else "--no-healthcheck "
    login = ""
    if ".dkr.ecr." in registry:
        login = (
            f"aws ecr get-login-password --region {shlex.quote(region)} | "
            f"docker login --username AWS --password-stdin {shlex.quote(registry)}\n"
        )
    return f"""#!/bin/bash
set -euo pipefail
dnf install -y docker
systemctl enable --now docker
cat > /etc/soundbite.env <<'SOUNDBITE_ENV'
{env_lines}
SOUNDBITE_ENV
{login}docker pull {shlex.quote(image)}
docker run -d --name soundbite-{role} --restart always --env-file /etc/soundbite.env \\
  --stop-timeout {spec.ECS_STOP_TIMEOUT_SECONDS} {ports}\\
  --log-driver awslogs --log-opt awslogs-region={shlex.quote(region)} \\
  --log-opt awslogs-group={shlex.quote(log_group)} --log-opt awslogs-stream-prefix={role} \\
  {shlex.quote(image)} {" ".join(ROLES[role])}
"""
