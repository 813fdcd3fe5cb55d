"""The rehearsal's environment described as production describes one: a `Target`.

`rehearsal_target` is the object `target.json` serialises; the engine process reads that file
with `--config`, exactly as `soundbite migrate` does against AWS: the judge reads the load
balancers' metrics the edge publishes (`alb`, per second), the alarms the stack would create
(`create_alarms`), the Fargate API's ECS service in the emulator, and the lanes' direct names
through the edge. What has no AWS counterpart locally (the processes that no ECS service
counts) goes to a separate lanes file that only the rehearsal's engine entry point reads.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from infra import alarms
from infra.local import cognito
from infra.local.stack import LocalStack
from migration.edge_metrics import target_fields as edge_target_fields
from migration.rehearsal.ecs_agent import EcsService
from migration.schemas import target_fields
from migration.synthetic import SYNTHETIC_USER
from migration.target import Target
from soundbite import spec

ZONE = "soundbite.test"
PUBLIC_NAME = f"api.{ZONE}"
ENVIRONMENT = "rehearsal"
ENGINE_SERVICES = {"cloudwatch": "CLOUDWATCH", "dynamodb": "DYNAMODB", "route53": "ROUTE_53"}
"""The AWS services the engine process reaches through a fault proxy, by botocore's env name."""
SYNTHETIC_PASSWORD_ENV = "SOUNDBITE_SYNTHETIC_PASSWORD"
"""Where the engine finds the synthetic user's password, as a production target names it."""


LANE_CAPACITY = {"api": 1, "worker": 1}
"""Each lane runs one API process and one worker (the ECS service: one task), as its stack's
config would say: the capacity the target file records, sizing every phase of the table."""


def rehearsal_target(stack: LocalStack, zone_id: str, direct_urls: dict[str, str],
                     ecs: EcsService, shift_steps: tuple[int, ...]) -> Target:
    """The rehearsal as a target file describes it; `direct_urls` are the edge's lane
    addresses, `shift_steps` the plan's (the stack's phase table, as `migrate init` records it)."""
    dp = stack.data_plane
    return Target(
        stack=ENVIRONMENT, zone_id=zone_id, record_name=PUBLIC_NAME, environment=ENVIRONMENT,
        ledger_table=dp.ledger_table, metrics="alb", **edge_target_fields(ENVIRONMENT, tuple(stack.lanes)),
        queue_name=dp.queue_url.rsplit("/", 1)[1], dlq_name=dp.dlq_url.rsplit("/", 1)[1],
        ecs_cluster=ecs.cluster, ecs_service=ecs.service, direct_urls=dict(direct_urls),
        synthetic_auth={"client_id": stack.user_pool.client_id, "username": SYNTHETIC_USER,
                        "password_env": SYNTHETIC_PASSWORD_ENV},
        capacity={"shift_steps": list(shift_steps), "ec2": dict(LANE_CAPACITY),
                  "fargate": dict(LANE_CAPACITY)},
    )


def create_alarms(cloudwatch, target: Target) -> list[str]:
    """The stack's alarms, as the Pulumi program creates them, in the emulator (which
    evaluates them on the metrics the edge publishes); their names."""
    stacks = [alarms.StackBalancer(lane, target.load_balancers[lane], target.target_groups[lane])
              for lane in target.load_balancers]
    requests = alarms.put_metric_alarm_requests(target.alarms.rstrip("-"), stacks, target.queue, target.dlq)
    for request in requests:
        cloudwatch.put_metric_alarm(**request)
    return [r["AlarmName"] for r in requests]


def synthetic_password(stack: LocalStack) -> dict[str, str]:
    """The synthetic user, created in the stack's user pool; its password as the engine's
    environment carries it (the judge's top-up and validate sign in as that user)."""
    password = cognito.ensure_user(stack.emulator.client("cognito-idp"), stack.user_pool, SYNTHETIC_USER)
    return {SYNTHETIC_PASSWORD_ENV: password}


def target_document(target: Target) -> dict:
    """The target as its file holds it, checked against the target file's schema."""
    data = {k: v for k, v in asdict(target).items() if v not in (None, {}, "")}
    return target_fields(data, "rehearsal target")


def lane_pids(stack: LocalStack, counted_by_ecs: tuple[str, ...] = ()) -> dict[str, dict[str, int]]:
    """The lanes' processes the engine watches itself: all but the APIs an ECS service counts."""
    return {name: {role: process.pid for role in ("api", "worker")
                   if (process := getattr(lane, role)) is not None
                   and not (role == "api" and name in counted_by_ecs)}
            for name, lane in stack.lanes.items()}


def engine_env(stack: LocalStack, proxies: dict[str, str], secrets: dict[str, str]) -> dict[str, str]:
    """The engine's environment: the emulator and the synthetic user's password, with each
    proxied service's endpoint on top."""
    import os

    env = {**os.environ, **stack.emulator.env, **secrets, "PYTHONUNBUFFERED": "1"}
    env.update({f"AWS_ENDPOINT_URL_{ENGINE_SERVICES[name]}": url for name, url in proxies.items()})
    return env


def write_target_files(directory: Path, stack: LocalStack, target: Target, edge_url: str,
                       secrets: dict[str, str]) -> dict:
    """What a person, a runbook test and the engine process need to act on the rehearsal."""
    directory.mkdir(parents=True, exist_ok=True)
    variables = {**stack.emulator.env, **stack.data_plane.service_env(), **secrets,
                 "SOUNDBITE_ZONE_ID": target.zone_id, "SOUNDBITE_RECORD_NAME": target.record_name,
                 "SOUNDBITE_EDGE_URL": edge_url}
    files = {"target": directory / "target.json", "env": directory / "rehearsal.env",
             "lanes": directory / "lanes.json"}
    files["target"].write_text(json.dumps(target_document(target), indent=2) + "\n")
    files["env"].write_text("".join(f"export {k}={v}\n" for k, v in variables.items()))
    counted = (spec.STACKS[1],) if target.ecs_service else ()
    files["lanes"].write_text(json.dumps(lane_pids(stack, counted), indent=2) + "\n")
    return files
