"""Alarms and one dashboard: the seed's thresholds, per stack and for the queues.

Per stack (ALB target group): error rate above spec.ALARMS.error_rate, p95 latency above
spec.ALARMS.p95_latency_ms. Queues: DLQ depth, jobs queue depth, oldest job age. The
dashboard puts both stacks on the same graphs so a migration can be watched side by side.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from soundbite import spec

ALB = "AWS/ApplicationELB"
SQS = "AWS/SQS"


@dataclass(frozen=True)
class StackMetrics:
    stack: str
    load_balancer: pulumi.Input[str]  # ALB ARN suffix ("app/<name>/<id>")
    target_group: pulumi.Input[str]  # target group ARN suffix


@dataclass(frozen=True)
class ObservabilityArgs:
    prefix: str  # e.g. "soundbite-dev"
    region: str
    stacks: tuple[StackMetrics, ...]
    queue_name: pulumi.Input[str]
    dlq_name: pulumi.Input[str]
    tags: dict[str, str] = field(default_factory=dict)


def error_rate_queries(load_balancer: str, target_group: str) -> list[dict]:
    """Metric math: target 5xx / requests (0 when there were no requests)."""
    dims = {"LoadBalancer": load_balancer, "TargetGroup": target_group}

    def metric(id_, name):
        return {"id": id_, "return_data": False, "metric": {
            "namespace": ALB, "metric_name": name, "dimensions": dims,
            "period": spec.ALARMS.period_seconds, "stat": "Sum"}}

    return [
        metric("errors", "HTTPCode_Target_5XX_Count"),
        metric("requests", "RequestCount"),
        {"id": "rate", "expression": "IF(requests > 0, errors / requests, 0)",
         "label": "5xx error rate", "return_data": True},
    ]


def dashboard_body(region: str, stacks: list[tuple[str, str, str]], queue: str, dlq: str) -> str:
    """Dashboard JSON; `stacks` holds (stack, load balancer suffix, target group suffix)."""

    def per_stack(metric: str, stat: str) -> list:
        return [[ALB, metric, "LoadBalancer", lb, "TargetGroup", tg, {"label": s, "stat": stat}]
                for s, lb, tg in stacks]

    def widget(title: str, metrics: list, x: int, y: int) -> dict:
        return {"type": "metric", "x": x, "y": y, "width": 12, "height": 6, "properties": {
            "title": title, "region": region, "view": "timeSeries", "period": spec.ALARMS.period_seconds,
            "metrics": metrics}}

    return json.dumps({"widgets": [
        widget("Requests per stack", per_stack("RequestCount", "Sum"), 0, 0),
        widget("Target 5xx per stack", per_stack("HTTPCode_Target_5XX_Count", "Sum"), 12, 0),
        widget("p95 latency per stack (s)", per_stack("TargetResponseTime", "p95"), 0, 6),
        widget("Healthy targets per stack", per_stack("HealthyHostCount", "Minimum"), 12, 6),
        widget("Jobs queue", [[SQS, "ApproximateNumberOfMessagesVisible", "QueueName", queue],
                              [SQS, "ApproximateAgeOfOldestMessage", "QueueName", queue, {"yAxis": "right"}]],
               0, 12),
        widget("Dead-letter queue", [[SQS, "ApproximateNumberOfMessagesVisible", "QueueName", dlq]], 12, 12),
    ]})


class Observability(pulumi.ComponentResource):
    topic: aws.sns.Topic
    alarms: dict[str, aws.cloudwatch.MetricAlarm]
    dashboard: aws.cloudwatch.Dashboard

    def __init__(self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("soundbite:infra:Observability", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        a = spec.ALARMS
        self.topic = aws.sns.Topic(f"{name}-alarms", tags=args.tags, opts=child)
        self.alarms = {}
        common = {"period": a.period_seconds, "evaluation_periods": a.evaluation_periods,
                  "alarm_actions": [self.topic.arn], "ok_actions": [self.topic.arn], "tags": args.tags}
        for s in args.stacks:
            queries = pulumi.Output.all(s.load_balancer, s.target_group).apply(lambda v: error_rate_queries(*v))
            common_math = {k: v for k, v in common.items() if k != "period"}
            self._alarm(f"{s.stack}-error-rate", args, child, comparison_operator="GreaterThanThreshold",
                        threshold=a.error_rate, metric_queries=queries, treat_missing_data="notBreaching",
                        **common_math)
            self._alarm(f"{s.stack}-p95-latency", args, child, comparison_operator="GreaterThanThreshold",
                        namespace=ALB, metric_name="TargetResponseTime", extended_statistic="p95",
                        threshold=a.p95_latency_ms / 1000,  # the ALB reports seconds
                        dimensions={"LoadBalancer": s.load_balancer, "TargetGroup": s.target_group},
                        treat_missing_data="notBreaching", **common)
        sqs_alarm = {"namespace": SQS, "statistic": "Maximum", "treat_missing_data": "notBreaching", **common}
        self._alarm("dlq-messages", args, child, metric_name="ApproximateNumberOfMessagesVisible",
                    comparison_operator="GreaterThanOrEqualToThreshold", threshold=a.dlq_messages,
                    dimensions={"QueueName": args.dlq_name}, **sqs_alarm)
        self._alarm("queue-depth", args, child, metric_name="ApproximateNumberOfMessagesVisible",
                    comparison_operator="GreaterThanOrEqualToThreshold", threshold=a.queue_depth,
                    dimensions={"QueueName": args.queue_name}, **sqs_alarm)
        self._alarm("oldest-message", args, child, metric_name="ApproximateAgeOfOldestMessage",
                    comparison_operator="GreaterThanOrEqualToThreshold", threshold=a.oldest_message_seconds,
                    dimensions={"QueueName": args.queue_name}, **sqs_alarm)
        body = pulumi.Output.all(args.queue_name, args.dlq_name, *[
            pulumi.Output.all(s.stack, s.load_balancer, s.target_group) for s in args.stacks
        ]).apply(lambda v: dashboard_body(args.region, [tuple(x) for x in v[2:]], v[0], v[1]))
        self.dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard", dashboard_name=f"{args.prefix}-migration", dashboard_body=body, opts=child)
        self.register_outputs({"alarm_names": [al.name for al in self.alarms.values()]})

    def _alarm(self, key: str, args: ObservabilityArgs, opts, **kwargs) -> None:
        self.alarms[key] = aws.cloudwatch.MetricAlarm(
            f"{args.prefix}-{key}", name=f"{args.prefix}-{key}", opts=opts, **kwargs)
