"""`migrate init`: a target file written from the stack's own outputs, never by hand.

The Pulumi program exports every name the migration needs (zone, record, ledger, queues,
load balancers, the ECS service, the EC2 group, the direct names). `init` turns
`pulumi stack output --json` (read through the Automation API, or from a file) into a
target file, checks it against the target schema and refuses to overwrite one. It records
the stack's full capacities and shift steps (the `stackCapacity` output, or the stack file
beside `Pulumi.yaml`), so preflight and rollback never fall back to a default, and how the
synthetic user signs in (`synthetic_auth`), so validate runs real transactions.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

from migration.exceptions import ConfigError
from migration.schemas import target_fields
from migration.synthetic import SYNTHETIC_PASSWORD_ENV, synthetic_username

EC2, FARGATE = "ec2", "fargate"
REQUIRED = ("environment", "hostedZoneId", "recordName", "ledgerTableName", "queueName", "dlqName")
PER_LANE = ("LoadBalancerArnSuffix", "TargetGroupArnSuffix", "DirectName")


def target_from_outputs(outputs: Mapping[str, object], stack: str, region: str | None,
                        pulumi_dir: str | None = None, stack_file: str | None = None) -> dict:
    """The target file's fields from a stack's outputs (production: ALB metrics, both lanes)."""
    missing = [k for k in REQUIRED if not outputs.get(k)]
    missing += [f"{lane}{key}" for lane in (EC2, FARGATE) for key in PER_LANE
                if not outputs.get(f"{lane}{key}")]
    for key in ("ec2AsgName", "fargateClusterName", "fargateApiServiceName"):
        if not outputs.get(key):
            missing.append(key)
    capacity = capacity_from_outputs(outputs) or capacity_from_stack_file(stack, pulumi_dir)
    if capacity is None:
        missing.append("stackCapacity")
    if missing:
        raise ConfigError(f"the stack's outputs lack {', '.join(missing)}: deploy both stacks "
                          "(phase parallel or later) with this version of the program and run "
                          "`pulumi up` before init")
    environment = str(outputs["environment"])
    data = {
        "stack": stack, "region": region, "environment": environment,
        "zone_id": outputs["hostedZoneId"], "record_name": outputs["recordName"],
        "ledger_table": outputs["ledgerTableName"], "metrics": "alb",
        "load_balancers": {lane: outputs[f"{lane}LoadBalancerArnSuffix"] for lane in (EC2, FARGATE)},
        "target_groups": {lane: outputs[f"{lane}TargetGroupArnSuffix"] for lane in (EC2, FARGATE)},
        "queue_name": outputs["queueName"], "dlq_name": outputs["dlqName"],
        "alarm_prefix": f"soundbite-{environment}-",
        "ecs_cluster": outputs["fargateClusterName"], "ecs_service": outputs["fargateApiServiceName"],
        "asg_name": outputs["ec2AsgName"], "worker_asg_name": outputs.get("ec2WorkerAsgName"),
        "direct_urls": {lane: f"https://{outputs[f'{lane}DirectName']}" for lane in (EC2, FARGATE)},
        "pulumi_dir": pulumi_dir, "stack_file": stack_file,
        "capacity": capacity,
        "synthetic_auth": synthetic_auth(outputs),
    }
    data = {k: v for k, v in data.items() if v is not None}
    target_fields(data, "stack outputs")  # the same schema a hand-written file meets
    return data


def capacity_from_outputs(outputs: Mapping[str, object]) -> dict | None:
    """The program's `stackCapacity` output (full capacities and shift steps) in the target
    file's shape; None when the outputs predate it. The schema checks the numbers."""
    exported = outputs.get("stackCapacity")
    if not isinstance(exported, Mapping):
        return None
    return {"shift_steps": exported.get("shiftSteps"),
            **{lane: exported.get(lane) for lane in (EC2, FARGATE)}}


def capacity_from_stack_file(stack: str, pulumi_dir: str | None) -> dict | None:
    """The capacities in `<pulumi_dir>/Pulumi.<stack>.yaml`, parsed as the program parses them."""
    if not pulumi_dir:
        return None
    from migration.capacity import read_stack_file

    path = Path(pulumi_dir) / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        return None
    read = read_stack_file(path)
    return {"shift_steps": list(read.shift_steps),
            EC2: {"api": read.ec2.api, "worker": read.ec2.worker},
            FARGATE: {"api": read.fargate.api, "worker": read.fargate.worker}}


def synthetic_auth(outputs: Mapping[str, object]) -> dict | None:
    """How validate and the top-up sign in: the synthetic user of the stack's user pool,
    through the API's app client; its password stays in the operator's environment."""
    client_id = outputs.get("userPoolClientId")
    if not client_id:
        return None
    return {"client_id": client_id, "username": synthetic_username(str(outputs["recordName"])),
            "password_env": SYNTHETIC_PASSWORD_ENV}


def outputs_from_file(path: str) -> dict:
    """`pulumi stack output --json > FILE`."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read stack outputs from {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold the JSON object `pulumi stack output --json` prints")
    return data


def outputs_from_stack(stack_name: str, pulumi_dir: str, select: Callable | None = None) -> dict:
    """The outputs through the Automation API (needs the pulumi CLI and a login)."""
    from infra.automation import select_stack

    stack = select_stack(stack_name, pulumi_dir, select=select)
    return {key: value.value for key, value in stack.outputs().items()}


def write_target(data: dict, path: str, force: bool = False) -> Path:
    out = Path(path)
    if out.exists() and not force:
        raise ConfigError(f"{out} exists: pass --force to replace it")
    out.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return out
