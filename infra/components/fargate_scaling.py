"""Autoscaling for the Fargate services: API on requests per target and CPU, worker on backlog.

The floors (min capacity) are the migration phase's counts, so `pulumi up` for a phase
raises capacity before traffic arrives and autoscaling can only add to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from soundbite import spec

DIMENSION = "ecs:service:DesiredCount"


@dataclass(frozen=True)
class ServiceScalingArgs:
    cluster_name: pulumi.Input[str]
    api_service_name: pulumi.Input[str]
    worker_service_name: pulumi.Input[str]
    api_min: int
    api_max: int
    worker_min: int
    worker_max: int
    request_count_label: pulumi.Input[str]  # "<alb arn suffix>/<target group arn suffix>"
    queue_name: pulumi.Input[str]
    tags: dict[str, str] = field(default_factory=dict)


def backlog_per_task_metrics(queue_name: str, cluster: str, service: str) -> list[dict]:
    """Metric math: visible jobs divided by running worker tasks (AWS's backlog-per-task recipe)."""
    return [
        {"id": "visible", "return_data": False, "metric_stat": {"stat": "Sum", "metric": {
            "namespace": "AWS/SQS", "metric_name": "ApproximateNumberOfMessagesVisible",
            "dimensions": [{"name": "QueueName", "value": queue_name}]}}},
        {"id": "tasks", "return_data": False, "metric_stat": {"stat": "Average", "metric": {
            "namespace": "ECS/ContainerInsights", "metric_name": "RunningTaskCount",
            "dimensions": [{"name": "ClusterName", "value": cluster}, {"name": "ServiceName", "value": service}]}}},
        {"id": "backlog", "expression": "visible / IF(tasks > 0, tasks, 1)", "label": "jobs per worker task",
         "return_data": True},
    ]


class ServiceScaling(pulumi.ComponentResource):
    def __init__(self, name: str, args: ServiceScalingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("soundbite:infra:ServiceScaling", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        api = self.api_target = self._target(f"{name}-api", args, args.api_service_name, args.api_min, args.api_max)
        worker = self.worker_target = self._target(f"{name}-worker", args, args.worker_service_name, args.worker_min, args.worker_max)
        self.api_requests = aws.appautoscaling.Policy(
            f"{name}-api-requests", policy_type="TargetTrackingScaling", resource_id=api.resource_id,
            scalable_dimension=DIMENSION, service_namespace="ecs",
            target_tracking_scaling_policy_configuration={
                "target_value": spec.API_SCALE_REQUESTS_PER_TARGET,
                "predefined_metric_specification": {
                    "predefined_metric_type": "ALBRequestCountPerTarget",
                    "resource_label": args.request_count_label,
                },
            }, opts=child,
        )
        self.api_cpu = aws.appautoscaling.Policy(
            f"{name}-api-cpu", policy_type="TargetTrackingScaling", resource_id=api.resource_id,
            scalable_dimension=DIMENSION, service_namespace="ecs",
            target_tracking_scaling_policy_configuration={
                "target_value": spec.API_SCALE_CPU_PERCENT,
                "predefined_metric_specification": {"predefined_metric_type": "ECSServiceAverageCPUUtilization"},
            }, opts=child,
        )
        metrics = pulumi.Output.all(args.queue_name, args.cluster_name, args.worker_service_name).apply(
            lambda v: backlog_per_task_metrics(*v))
        self.worker_backlog = aws.appautoscaling.Policy(
            f"{name}-worker-backlog", policy_type="TargetTrackingScaling", resource_id=worker.resource_id,
            scalable_dimension=DIMENSION, service_namespace="ecs",
            target_tracking_scaling_policy_configuration={
                "target_value": spec.WORKER_SCALE_BACKLOG_PER_TASK,
                "customized_metric_specification": {"metrics": metrics},
            }, opts=child,
        )
        self.register_outputs({})

    def _target(self, name, args: ServiceScalingArgs, service, minimum, maximum) -> aws.appautoscaling.Target:
        return aws.appautoscaling.Target(
            f"{name}-target", service_namespace="ecs", scalable_dimension=DIMENSION,
            resource_id=pulumi.Output.concat("service/", args.cluster_name, "/", service),
            min_capacity=minimum, max_capacity=maximum, tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
