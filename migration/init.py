"""`migrate init`: a target file written from the stack's own outputs, never by hand.

The Pulumi program exports every name the migration needs (zone, record, ledger, queues,
load balancers, the ECS service, the EC2 group, the direct names). `init` turns
`pulumi stack output --json` (read through the Automation API, or from a file) into a
target file, checks it against the target schema and refuses to overwrite one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

from migration.exceptions import ConfigError
from migration.schemas import target_fields

EC2, FARGATE = "ec2", "fargate"
REQUIRED = ("environment", "hostedZoneId", "recordName", "ledgerTableName", "queueName", "dlqName")
PER_LANE = ("LoadBalancerArnSuffix", "TargetGroupArnSuffix", "DirectName")


def target_from_outputs(outputs: Mapping[str, object], stack: str, region: str | None,
                        pulumi_dir: str | None = None) -> dict:
    """The target file's fields from a stack's outputs (production: ALB metrics, both lanes)."""
    missing = [k for k in REQUIRED if not outputs.get(k)]
    missing += [f"{lane}{key}" for lane in (EC2, FARGATE) for key in PER_LANE
                if not outputs.get(f"{lane}{key}")]
    for key in ("ec2AsgName", "fargateClusterName", "fargateApiServiceName"):
        if not outputs.get(key):
            missing.append(key)
    if missing:
        raise ConfigError(f"the stack's outputs lack {', '.join(missing)}: deploy both stacks "
                          "(phase fargate-deployed or later) and run `pulumi up` before init")
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
        "asg_name": outputs["ec2AsgName"],
        "direct_urls": {lane: f"https://{outputs[f'{lane}DirectName']}" for lane in (EC2, FARGATE)},
        "pulumi_dir": pulumi_dir,
    }
    data = {k: v for k, v in data.items() if v is not None}
    target_fields(data, "stack outputs")  # the same schema a hand-written file meets
    return data


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
