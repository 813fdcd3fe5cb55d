"""ECS container definitions for the API and the worker: one image, one environment.

Secret variables go in `secrets` (name -> Secrets Manager ARN): the ECS agent fetches them
with the execution role when a task starts, so their values never sit in the definition.
"""

from __future__ import annotations

from soundbite import spec

COMMANDS = {"api": ["soundbite", "api"], "worker": ["soundbite", "worker"]}


def container_definition(role: str, image: str, environment: dict[str, str], log_group: str,
                         region: str, secrets: dict[str, str] | None = None) -> dict:
    """One container definition (as ECS's JSON expects) for `soundbite <role>`."""
    if role not in COMMANDS:
        raise ValueError(f"unknown role {role!r}; expected one of {sorted(COMMANDS)}")
    definition = {
        "name": role,
        "image": image,
        "essential": True,
        "command": COMMANDS[role],
        "environment": [{"name": k, "value": v} for k, v in sorted(environment.items())],
        # Above the worker's grace period, so in-flight jobs finish or go back to the queue.
        "stopTimeout": spec.ECS_STOP_TIMEOUT_SECONDS,
        "readonlyRootFilesystem": False,
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {"awslogs-group": log_group, "awslogs-region": region, "awslogs-stream-prefix": role},
        },
    }
    if secrets:
        overlap = set(secrets) & set(environment)
        if overlap:
            raise ValueError(f"{sorted(overlap)} would be both plain and secret")
        definition["secrets"] = [{"name": k, "valueFrom": v} for k, v in sorted(secrets.items())]
    if role == "api":
        definition["portMappings"] = [{"containerPort": spec.API_PORT, "protocol": "tcp"}]
    return definition
