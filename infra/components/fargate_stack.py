"""The Fargate stack: cluster, API and worker services from one image, ALB, autoscaling.

Services roll out behind the deployment circuit breaker and the stack's CloudWatch alarms
(deployment alarms), both with automatic rollback, and `pulumi up` waits for each service to
reach a steady state. Autoscaling owns the desired counts once a service exists
(`ignore_changes`), so a phase change never cuts tasks autoscaling added: the phase sets the
scaling floors (min capacity) instead, and the initial desired count on creation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra.components.containers import container_definition
from infra.components.fargate_scaling import ServiceScaling, ServiceScalingArgs
from infra.components.iam import ServiceRoles
from infra.components.load_balancer import LoadBalancerArgs, PublicLoadBalancer
from infra.phases import Capacity, StackShape
from soundbite import spec

SIZES = {
    "api": (spec.FARGATE_API_CPU, spec.FARGATE_API_MEMORY_MB),
    "worker": (spec.FARGATE_WORKER_CPU, spec.FARGATE_WORKER_MEMORY_MB),
}


@dataclass(frozen=True)
class FargateStackArgs:
    shape: StackShape
    full: Capacity
    vpc_id: pulumi.Input[str]
    public_subnet_ids: pulumi.Input[list[str]]
    private_subnet_ids: pulumi.Input[list[str]]
    certificate_arn: pulumi.Input[str]
    image: pulumi.Input[str]
    environment: pulumi.Output  # Output[dict[str, str]]
    region: str
    cluster_name: str
    log_group_name: str
    queue_name: pulumi.Input[str]
    roles: ServiceRoles
    deployment_alarms: tuple[str, ...] = ()  # alarm names that roll a deployment back
    api_secrets: pulumi.Input[dict[str, str]] | None = None  # variable -> Secrets Manager ARN
    tags: dict[str, str] = field(default_factory=dict)


class FargateStack(pulumi.ComponentResource):
    alb: PublicLoadBalancer
    cluster: aws.ecs.Cluster
    api_service: aws.ecs.Service
    worker_service: aws.ecs.Service
    task_definitions: dict[str, aws.ecs.TaskDefinition]

    def __init__(self, name: str, args: FargateStackArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("soundbite:infra:FargateStack", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = {**args.tags, "Stack": "fargate"}
        self.cluster = aws.ecs.Cluster(
            f"{name}-cluster", name=args.cluster_name,
            settings=[{"name": "containerInsights", "value": "enabled"}], tags=tags, opts=child,
        )
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs", name=args.log_group_name, retention_in_days=spec.LOG_RETENTION_DAYS,
            tags=tags, opts=child,
        )
        self.alb = PublicLoadBalancer(f"{name}-lb", LoadBalancerArgs(
            vpc_id=args.vpc_id, public_subnet_ids=args.public_subnet_ids,
            certificate_arn=args.certificate_arn, target_type="ip", tags=tags,
        ), opts=child)
        self.api_sg = self.alb.app_security_group(f"{name}-api-sg", args.vpc_id, tags, child)
        self.worker_sg = aws.ec2.SecurityGroup(
            f"{name}-worker-sg", vpc_id=args.vpc_id, description="worker: outbound only",
            egress=[{"protocol": "-1", "from_port": 0, "to_port": 0, "cidr_blocks": ["0.0.0.0/0"]}],
            tags=tags, opts=child,
        )
        self.task_definitions = {
            role: self._task(name, role, args, role_obj, tags)
            for role, role_obj in (("api", args.roles.api_role), ("worker", args.roles.worker_role))
        }
        shape = args.shape
        self.api_service = self._service(
            name, "api", args, shape.api_count, self.api_sg, tags,
            load_balancers=[{"target_group_arn": self.alb.target_group.arn,
                             "container_name": "api", "container_port": spec.API_PORT}],
        )
        self.worker_service = self._service(name, "worker", args, shape.worker_count, self.worker_sg, tags)
        self.scaling = ServiceScaling(f"{name}-scaling", ServiceScalingArgs(
            cluster_name=self.cluster.name, api_service_name=self.api_service.name,
            worker_service_name=self.worker_service.name,
            api_min=shape.min_capacity, worker_min=shape.worker_count,
            api_max=max(shape.api_count, args.full.api * spec.AUTOSCALE_MAX_FACTOR),
            worker_max=max(shape.worker_count, args.full.worker * spec.AUTOSCALE_MAX_FACTOR),
            request_count_label=pulumi.Output.concat(
                self.alb.load_balancer.arn_suffix, "/", self.alb.target_group.arn_suffix),
            queue_name=args.queue_name, tags=tags,
        ), opts=child)
        self.register_outputs({
            "cluster": self.cluster.name, "api_service": self.api_service.name,
            "worker_service": self.worker_service.name,
        })

    def _task(self, name, role, args: FargateStackArgs, task_role, tags) -> aws.ecs.TaskDefinition:
        cpu, memory = SIZES[role]
        secrets = args.api_secrets if role == "api" else None
        definitions = pulumi.Output.all(args.image, args.environment, secrets).apply(
            lambda v: json.dumps([container_definition(role, v[0], v[1], args.log_group_name,
                                                       args.region, secrets=v[2])])
        )
        return aws.ecs.TaskDefinition(
            f"{name}-{role}-task", family=f"{args.cluster_name}-{role}",
            requires_compatibilities=["FARGATE"], network_mode="awsvpc", cpu=str(cpu), memory=str(memory),
            execution_role_arn=args.roles.execution_role.arn, task_role_arn=task_role.arn,
            container_definitions=definitions,
            runtime_platform={"operating_system_family": "LINUX", "cpu_architecture": "X86_64"},
            tags=tags, opts=pulumi.ResourceOptions(parent=self),
        )

    def _service(self, name, role, args: FargateStackArgs, desired, sg, tags, load_balancers=None):
        extra: dict = {}
        depends_on: list[pulumi.Resource] = []
        if load_balancers:
            extra["health_check_grace_period_seconds"] = spec.HEALTH_CHECK_GRACE_SECONDS
            # ECS refuses a target group no listener forwards to.
            depends_on.append(self.alb.https_listener)
        if args.deployment_alarms:
            extra["alarms"] = {"alarm_names": list(args.deployment_alarms), "enable": True,
                               "rollback": True}
        return aws.ecs.Service(
            f"{name}-{role}-service", name=role, cluster=self.cluster.arn,
            task_definition=self.task_definitions[role].arn, launch_type="FARGATE",
            desired_count=desired,
            deployment_circuit_breaker={"enable": True, "rollback": True},
            deployment_minimum_healthy_percent=100, deployment_maximum_percent=200,
            network_configuration={"subnets": args.private_subnet_ids, "security_groups": [sg.id],
                                   "assign_public_ip": False},
            load_balancers=load_balancers or [], propagate_tags="SERVICE", enable_ecs_managed_tags=True,
            wait_for_steady_state=True, tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on,
                                        ignore_changes=["desiredCount"]),
            **extra,
        )
