"""The EC2 launch script: run the one SoundBite image as the API or the worker.

Plain text from plain values, so it is tested without Pulumi (and its `docker run` line is
run against a real Docker daemon in tests/infra/test_image.py). The AMI is Amazon's
ECS-optimized Amazon Linux 2023, which ships Docker, so nothing is installed at boot.

Only log options Docker's own awslogs driver knows are passed (`awslogs-stream-prefix` is
the ECS agent's, and Docker refuses it). Each container logs to the stream
`<role>/<instance id>`. Docker's stop timeout matches ECS's, so an ASG scale-in gives the
worker the same grace period a Fargate task gets.

Secrets (the API's cursor secret) are not in the script: it names their Secrets Manager ARNs,
and the instance fetches each value at boot with its own role, straight into the env file
(mode 600), so the value is neither in the user data nor in the launch template.
"""

from __future__ import annotations

import shlex

from soundbite import spec

ROLES = {"api": ("soundbite", "api"), "worker": ("soundbite", "worker")}
IMDS = "http://169.254.169.254/latest"
ENV_FILE = "/etc/soundbite.env"


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


def secret_lines(secrets: dict[str, str], region: str, env_file: str) -> str:
    """Shell lines appending `NAME=<value fetched from Secrets Manager>` to the env file."""
    lines = []
    for name, arn in sorted(secrets.items()):
        if not name.isidentifier():
            raise ValueError(f"not a variable name: {name!r}")
        fetch = (f"aws secretsmanager get-secret-value --region {shlex.quote(region)} "
                 f"--secret-id {shlex.quote(arn)} --query SecretString --output text")
        lines.append(f'value=$({fetch})\n'
                     f'printf \'%s=%s\\n\' {name} "$value" >> {shlex.quote(env_file)}')
    return "\n".join(lines) + ("\nunset value\n" if lines else "")


def user_data(role: str, image: str, environment: dict[str, str], region: str, log_group: str,
              secrets: dict[str, str] | None = None, env_file: str = ENV_FILE) -> str:
    """A cloud-init shell script that pulls `image` and runs `soundbite <role>` under Docker.

    `secrets` maps variable names to Secrets Manager ARNs, fetched at boot into `env_file`.
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {sorted(ROLES)}")
    secrets = secrets or {}
    if set(secrets) & set(environment):
        raise ValueError(f"{sorted(set(secrets) & set(environment))} would be both plain and secret")
    registry = image.split("/", 1)[0]
    env_lines = "\n".join(f"{k}={v}" for k, v in sorted(environment.items()))
    on_ecr = ".dkr.ecr." in registry
    cli = "command -v aws >/dev/null || dnf install -y awscli-2\n" if on_ecr or secrets else ""
    login = ""
    if on_ecr:
        login = (f"aws ecr get-login-password --region {shlex.quote(region)} | "
                 f"docker login --username AWS --password-stdin {shlex.quote(registry)}\n")
    fetch = secret_lines(secrets, region, env_file)
    quoted_env = shlex.quote(env_file)
    run = docker_run(role, image, region, log_group, env_file, f'"{role}/$instance"')
    return f"""#!/bin/bash
set -euo pipefail
# The ECS-optimized AMI starts its ECS agent; these instances are not in a cluster.
systemctl disable --now ecs 2>/dev/null || true
systemctl enable --now docker
token=$(curl -sf -X PUT {IMDS}/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')
instance=$(curl -sf -H "X-aws-ec2-metadata-token: $token" {IMDS}/meta-data/instance-id)
umask 077
cat > {quoted_env} <<'SOUNDBITE_ENV'
{env_lines}
SOUNDBITE_ENV
{cli}{fetch}{login}docker pull {shlex.quote(image)}
{run}
"""
