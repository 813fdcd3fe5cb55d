"""Scheduled DLQ redrive for dev and staging: `soundbite dlq redrive` every 15 minutes.

EventBridge Scheduler runs a one-off Fargate task on a small cluster of its own, so the
schedule does not depend on which stack the migration phase keeps. Production has no
schedule at all (config refuses it): there, redrive is a manual command.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra.components.containers import container_definition
from infra.components.iam import (
    ECS_TASKS_PRINCIPAL,
    policy_document,
    redrive_statements,
    role_with_policy,
    runtime_statements,
)
from soundbite import spec

REDRIVE_COMMAND = ["soundbite", "dlq", "redrive", "--yes"]  # unattended: confirmed by the schedule
SCHEDULER_PRINCIPAL = "scheduler.amazonaws.com"


@dataclass(frozen=True)
class RedriveScheduleArgs:
    cluster_name: str
    log_group_name: str
    region: str
    image: pulumi.Input[str]
    environment: pulumi.Output  # Output[dict[str, str]]
    arns: pulumi.Output  # Output[iam.DataPlaneArns]
    private_subnet_ids: pulumi.Input[list[str]]
    vpc_id: pulumi.Input[str]
    account_id: pulumi.Input[str]
    tags: dict[str, str] = field(default_factory=dict)


def redrive_container(image: str, environment: dict[str, str], log_group: str, region: str) -> dict:
    definition = container_definition("worker", image, environment, log_group, region)
    return {**definition, "name": "redrive", "command": REDRIVE_COMMAND}


def scheduler_statements(task_definition_family_arn: str, pass_roles: list[str]) -> list[dict]:
    return [
        {"Effect": "Allow", "Action": ["ecs:RunTask"], "Resource": [f"{task_definition_family_arn}:*"]},
        {"Effect": "Allow", "Action": ["iam:PassRole"], "Resource": pass_roles},
    ]


class RedriveSchedule(pulumi.ComponentResource):
    schedule: aws.scheduler.Schedule

    def __init__(self, name: str, args: RedriveScheduleArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("soundbite:infra:RedriveSchedule", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = args.tags
        cluster = aws.ecs.Cluster(f"{name}-cluster", name=args.cluster_name, tags=tags, opts=child)
        aws.cloudwatch.LogGroup(f"{name}-logs", name=args.log_group_name,
                                retention_in_days=spec.LOG_RETENTION_DAYS, tags=tags, opts=child)
        task_role = role_with_policy(f"{name}-task", ECS_TASKS_PRINCIPAL, args.arns, redrive_statements, tags, self)
        execution_role = role_with_policy(
            f"{name}-execution", ECS_TASKS_PRINCIPAL, args.arns, runtime_statements, tags, self)
        definitions = pulumi.Output.all(args.image, args.environment).apply(
            lambda v: json.dumps([redrive_container(v[0], v[1], args.log_group_name, args.region)]))
        task = aws.ecs.TaskDefinition(
            f"{name}-task", family=f"{args.cluster_name}-redrive", requires_compatibilities=["FARGATE"],
            network_mode="awsvpc", cpu=str(spec.FARGATE_API_CPU), memory=str(spec.FARGATE_API_MEMORY_MB),
            execution_role_arn=execution_role.arn, task_role_arn=task_role.arn,
            container_definitions=definitions, tags=tags, opts=child,
        )
        sg = aws.ec2.SecurityGroup(
            f"{name}-sg", vpc_id=args.vpc_id, description="DLQ redrive task: outbound only",
            egress=[{"protocol": "-1", "from_port": 0, "to_port": 0, "cidr_blocks": ["0.0.0.0/0"]}],
            tags=tags, opts=child,
        )
        role = aws.iam.Role(
            f"{name}-role", tags=tags, opts=child,
            assume_role_policy=pulumi.Output.from_input(args.account_id).apply(lambda account: json.dumps({
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"Service": SCHEDULER_PRINCIPAL},
                               "Action": "sts:AssumeRole",
                               # Confused-deputy guard: only schedules in this account.
                               "Condition": {"StringEquals": {"aws:SourceAccount": account}}}],
            })),
        )
        family_arn = task.arn.apply(lambda arn: arn.rsplit(":", 1)[0])
        aws.iam.RolePolicy(
            f"{name}-policy", role=role.id, opts=pulumi.ResourceOptions(parent=role),
            policy=pulumi.Output.all(family_arn, task_role.arn, execution_role.arn).apply(
                lambda v: policy_document(scheduler_statements(v[0], [v[1], v[2]]))),
        )
        self.schedule = aws.scheduler.Schedule(
            f"{name}-schedule", schedule_expression=spec.REDRIVE_SCHEDULE,
            flexible_time_window={"mode": "OFF"},
            target={
                "arn": cluster.arn, "role_arn": role.arn,
                "ecs_parameters": {
                    "task_definition_arn": task.arn, "launch_type": "FARGATE", "task_count": 1,
                    "network_configuration": {"subnets": args.private_subnet_ids,
                                              "security_groups": [sg.id], "assign_public_ip": False},
                },
                "retry_policy": {"maximum_retry_attempts": 0},  # the next run is 15 minutes away
            },
            opts=child,
        )
        self.register_outputs({"schedule": self.schedule.name})

