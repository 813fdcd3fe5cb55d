"""IAM: one least-privilege role per process (API, worker) per stack, plus what runs them.

Every data-plane statement names its table, index, bucket prefix or queue; no action is a
wildcard. The only `"Resource": "*"` statements are for actions AWS cannot scope to a
resource (listed in UNSCOPED_ACTIONS), and the policy pack and the tests hold that line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

# Actions that AWS only authorizes against "*" (no resource-level permissions).
UNSCOPED_ACTIONS = frozenset({
    "polly:SynthesizeSpeech", "polly:DescribeVoices", "ecr:GetAuthorizationToken",
})
EC2_PRINCIPAL = "ec2.amazonaws.com"
ECS_TASKS_PRINCIPAL = "ecs-tasks.amazonaws.com"


@dataclass(frozen=True)
class DataPlaneArns:
    """Plain ARNs of what the processes touch (resolved values, not Outputs)."""

    table: str
    idempotency_table: str
    bucket: str
    queue: str
    dlq: str
    repository: str
    log_group: str
    cursor_secret: str


def assume_role_policy(principal: str) -> str:
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": principal}, "Action": "sts:AssumeRole"}],
    })


def _allow(actions: list[str], resources: list[str]) -> dict:
    return {"Effect": "Allow", "Action": sorted(actions), "Resource": resources}


def api_statements(a: DataPlaneArns) -> list[dict]:
    """The API: read/write soundbites and idempotency records, enqueue jobs, presign audio reads."""
    return [
        _allow(["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query",
                "dynamodb:DescribeTable"], [a.table, f"{a.table}/index/*"]),
        _allow(["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                "dynamodb:DescribeTable"], [a.idempotency_table]),
        _allow(["s3:GetObject"], [f"{a.bucket}/audio/*"]),
        _allow(["s3:ListBucket"], [a.bucket]),  # readiness check (HeadBucket)
        _allow(["sqs:SendMessage", "sqs:GetQueueAttributes"], [a.queue]),
        _allow(["polly:DescribeVoices"], ["*"]),
    ]


def worker_statements(a: DataPlaneArns) -> list[dict]:
    """The worker: consume jobs, write audio, update soundbites, redrive the DLQ."""
    return [
        _allow(["dynamodb:GetItem", "dynamodb:UpdateItem"], [a.table]),
        _allow(["s3:PutObject", "s3:GetObject"], [f"{a.bucket}/audio/*"]),
        _allow(["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
                "sqs:GetQueueAttributes", "sqs:SendMessage"], [a.queue]),
        *redrive_statements(a),
        _allow(["polly:SynthesizeSpeech", "polly:DescribeVoices"], ["*"]),
    ]


def runtime_statements(a: DataPlaneArns) -> list[dict]:
    """What the host (EC2 instance or ECS agent) needs to pull the image and ship logs."""
    return [
        _allow(["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
               [a.repository]),
        _allow(["ecr:GetAuthorizationToken"], ["*"]),
        _allow(["logs:CreateLogStream", "logs:PutLogEvents"], [f"{a.log_group}:*"]),
    ]


def secret_statements(a: DataPlaneArns) -> list[dict]:
    """Whoever starts the API reads its one secret: the EC2 API instance at boot, the ECS
    execution role when a task starts."""
    return [_allow(["secretsmanager:GetSecretValue"], [a.cursor_secret])]


def redrive_statements(a: DataPlaneArns) -> list[dict]:
    """`soundbite dlq redrive`: move DLQ messages back to the jobs queue (the worker may run it
    too). A message it cannot move yet is made visible again (ChangeMessageVisibility); one it
    refuses marks its soundbite failed (UpdateItem on the soundbites table)."""
    return [
        _allow(["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
                "sqs:GetQueueAttributes"], [a.dlq]),
        _allow(["sqs:SendMessage", "sqs:GetQueueAttributes"], [a.queue]),
        _allow(["dynamodb:UpdateItem"], [a.table]),
    ]


def policy_document(statements: list[dict]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def role_with_policy(name: str, principal: str, arns: pulumi.Output, statements, tags: dict[str, str],
                     parent: pulumi.Resource) -> aws.iam.Role:
    """A role `principal` may assume, with one inline policy built from `statements(arns)`."""
    role = aws.iam.Role(
        f"{name}-role", assume_role_policy=assume_role_policy(principal), tags=tags,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    aws.iam.RolePolicy(
        f"{name}-policy", role=role.id,
        policy=arns.apply(lambda a: policy_document(statements(a))),
        opts=pulumi.ResourceOptions(parent=role),
    )
    return role


@dataclass(frozen=True)
class ServiceRolesArgs:
    stack: str  # "ec2" or "fargate"
    arns: pulumi.Output  # Output[DataPlaneArns]
    tags: dict[str, str] = field(default_factory=dict)


class ServiceRoles(pulumi.ComponentResource):
    """API and worker roles for one stack; instance profiles on EC2, an execution role on ECS."""

    api_role: aws.iam.Role
    worker_role: aws.iam.Role
    execution_role: aws.iam.Role | None
    api_profile: aws.iam.InstanceProfile | None
    worker_profile: aws.iam.InstanceProfile | None

    def __init__(self, name: str, args: ServiceRolesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("soundbite:infra:ServiceRoles", name, None, opts)
        on_ec2 = args.stack == "ec2"
        principal = EC2_PRINCIPAL if on_ec2 else ECS_TASKS_PRINCIPAL
        # On EC2 the instance role is also the runtime (image pull, logs); on ECS that is the
        # execution role's job, so the task roles hold only what the process itself calls.
        extra = runtime_statements if on_ec2 else (lambda _a: [])
        self.api_role = self._role(f"{name}-api", principal, args, lambda a: (
            api_statements(a) + extra(a) + (secret_statements(a) if on_ec2 else [])))
        self.worker_role = self._role(f"{name}-worker", principal, args,
                                      lambda a: worker_statements(a) + extra(a))
        self.execution_role = None if on_ec2 else self._role(
            f"{name}-execution", ECS_TASKS_PRINCIPAL, args,
            lambda a: runtime_statements(a) + secret_statements(a))
        child = pulumi.ResourceOptions(parent=self)
        self.api_profile = self.worker_profile = None
        if on_ec2:
            self.api_profile = aws.iam.InstanceProfile(
                f"{name}-api-profile", role=self.api_role.name, tags=args.tags, opts=child)
            self.worker_profile = aws.iam.InstanceProfile(
                f"{name}-worker-profile", role=self.worker_role.name, tags=args.tags, opts=child)
        self.register_outputs({"api_role": self.api_role.arn, "worker_role": self.worker_role.arn})

    def _role(self, name: str, principal: str, args: ServiceRolesArgs, statements) -> aws.iam.Role:
        return role_with_policy(name, principal, args.arns, statements, args.tags, self)
