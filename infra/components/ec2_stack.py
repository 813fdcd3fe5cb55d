"""The EC2 stack: an ALB and two auto scaling groups (API, worker) running the same image.

Desired counts and the API group's minimum come from the migration phase; everything else
is phase-independent, so changing the phase only moves capacity. The AMI is the
ECS-optimized Amazon Linux 2023 (Docker preinstalled), resolved from its SSM public
parameter at launch. The API instances fetch their secrets from Secrets Manager at boot
(user_data.py). When the API group is created or resized, `pulumi up` waits until its
desired number of instances pass the load balancer's health check, so one that does not
serve fails. A new image rolls the instances by an instance refresh, which the provider does
not wait for: AWS keeps every old instance until a new one is healthy, and rolls the refresh
back by itself when new ones fail their checks (`auto_rollback`).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra.components.iam import ServiceRoles
from infra.components.load_balancer import LoadBalancerArgs, PublicLoadBalancer
from infra.components.user_data import user_data
from infra.phases import Capacity, StackShape
from soundbite import spec

DOCKER_AMI_PARAMETER = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"
DOCKER_AMI = f"resolve:ssm:{DOCKER_AMI_PARAMETER}"


@dataclass(frozen=True)
class Ec2StackArgs:
    shape: StackShape
    full: Capacity
    vpc_id: pulumi.Input[str]
    public_subnet_ids: pulumi.Input[list[str]]
    private_subnet_ids: pulumi.Input[list[str]]
    certificate_arn: pulumi.Input[str]
    image: pulumi.Input[str]
    environment: pulumi.Output  # Output[dict[str, str]], from environment.app_environment
    region: str
    log_group_name: str
    instance_type: str
    roles: ServiceRoles
    ami_id: str | None = None
    api_secrets: pulumi.Input[dict[str, str]] | None = None  # variable -> Secrets Manager ARN
    tags: dict[str, str] = field(default_factory=dict)


def group_sizes(desired: int, minimum: int, full: int) -> dict[str, int]:
    """min / desired / max for one ASG; max leaves room to scale above full capacity."""
    return {
        "min_size": minimum,
        "desired_capacity": desired,
        "max_size": max(desired, full * spec.AUTOSCALE_MAX_FACTOR),
    }


class Ec2Stack(pulumi.ComponentResource):
    alb: PublicLoadBalancer
    api_group: aws.autoscaling.Group
    worker_group: aws.autoscaling.Group
    log_group: aws.cloudwatch.LogGroup

    def __init__(self, name: str, args: Ec2StackArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("soundbite:infra:Ec2Stack", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = {**args.tags, "Stack": "ec2"}
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs", name=args.log_group_name, retention_in_days=spec.LOG_RETENTION_DAYS,
            tags=tags, opts=child,
        )
        self.alb = PublicLoadBalancer(f"{name}-lb", LoadBalancerArgs(
            vpc_id=args.vpc_id, public_subnet_ids=args.public_subnet_ids,
            certificate_arn=args.certificate_arn, target_type="instance", tags=tags,
        ), opts=child)
        self.app_sg = self.alb.app_security_group(f"{name}-app-sg", args.vpc_id, tags, child)
        shape, full = args.shape, args.full
        self.api_group = self._group(
            name, "api", args, args.roles.api_profile, tags,
            group_sizes(shape.api_count, shape.min_capacity, full.api),
            target_group_arns=[self.alb.target_group.arn],
        )
        self.worker_group = self._group(
            name, "worker", args, args.roles.worker_profile, tags,
            group_sizes(shape.worker_count, shape.worker_count, full.worker),
        )
        self.register_outputs({
            "api_group": self.api_group.name, "worker_group": self.worker_group.name,
            "target_group_arn_suffix": self.alb.target_group.arn_suffix,
        })

    def _group(self, name, role, args: Ec2StackArgs, profile, tags, sizes, target_group_arns=None):
        child = pulumi.ResourceOptions(parent=self)
        secrets = args.api_secrets if role == "api" else None
        script = pulumi.Output.all(args.image, args.environment, secrets).apply(
            lambda v: base64.b64encode(
                user_data(role, v[0], v[1], args.region, args.log_group_name, secrets=v[2]).encode()
            ).decode()
        )
        template = aws.ec2.LaunchTemplate(
            f"{name}-{role}-lt", image_id=args.ami_id or DOCKER_AMI, instance_type=args.instance_type,
            iam_instance_profile={"arn": profile.arn}, user_data=script,
            vpc_security_group_ids=[self.app_sg.id],
            metadata_options={"http_tokens": "required", "http_endpoint": "enabled",
                              "http_put_response_hop_limit": 2},  # 2: containers reach IMDSv2
            tag_specifications=[{"resource_type": "instance", "tags": {**tags, "Role": role}}],
            update_default_version=True, tags=tags, opts=child,
        )
        on_alb = bool(target_group_arns)
        # The API group is only done when its instances serve: pulumi waits for that many
        # healthy targets in the load balancer (and fails the update if they never come).
        wait = {"wait_for_elb_capacity": sizes["desired_capacity"],
                "wait_for_capacity_timeout": spec.EC2_WAIT_FOR_CAPACITY_TIMEOUT} if on_alb else {}
        return aws.autoscaling.Group(
            f"{name}-{role}-asg", vpc_zone_identifiers=args.private_subnet_ids,
            launch_template={"id": template.id, "version": template.latest_version.apply(str)},
            target_group_arns=target_group_arns or [],
            health_check_type="ELB" if on_alb else "EC2",
            health_check_grace_period=spec.EC2_HEALTH_CHECK_GRACE_SECONDS,
            # A new launch template version (new image) rolls the instances, healthy first,
            # and AWS puts the old version back if the new instances never pass their checks.
            instance_refresh={"strategy": "Rolling", "preferences": {
                "min_healthy_percentage": 100, "max_healthy_percentage": 200, "auto_rollback": True}},
            tags=[{"key": k, "value": v, "propagate_at_launch": True} for k, v in {**tags, "Role": role}.items()],
            opts=child, **sizes, **wait,
        )
