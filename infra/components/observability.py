"""Alarms and one dashboard: the seed's thresholds, per stack and for the queues.

Per stack: error rate above spec.ALARMS.error_rate (5xx from the targets and 5xx the load
balancer generates itself, e.g. 502/503 when no target is healthy), p95 latency above
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
    subscriber: tuple[str, str] | None = None  # (SNS protocol, endpoint), see config.alarm_subscriber
    tags: dict[str, str] = field(default_factory=dict)


def alarm_name(prefix: str, key: str) -> str:
    """The CloudWatch name of one alarm, known before it exists (ECS deployment alarms use it)."""
    return f"{prefix}-{key}"


def stack_alarm_names(prefix: str, stack: str) -> tuple[str, ...]:
    """The alarms that judge one stack's API: what an ECS deployment rolls back on."""
    return tuple(alarm_name(prefix, f"{stack}-{k}") for k in ("error-rate", "p95-latency"))


def error_rate_queries(load_balancer: str, target_group: str) -> list[dict]:
    """Metric math: (target 5xx + load balancer 5xx) / (requests + load balancer 5xx).

    The load balancer's own 5xx (no healthy target, target reset) carry only the LoadBalancer
    dimension, and a request refused before a target was chosen is not in RequestCount, so it
    is added to the denominator too; 0 when nothing arrived.
    """
    target = {"LoadBalancer": load_balancer, "TargetGroup": target_group}
    balancer = {"LoadBalancer": load_balancer}

    def metric(id_, name, dims):
        return {"id": id_, "return_data": False, "metric": {
            "namespace": ALB, "metric_name": name, "dimensions": dims,
            "period": spec.ALARMS.period_seconds, "stat": "Sum"}}

    return [
        metric("targeterrors", "HTTPCode_Target_5XX_Count", target),
        metric("elberrors", "HTTPCode_ELB_5XX_Count", balancer),
        metric("requests", "RequestCount", target),
        {"id": "errors", "expression": "FILL(targeterrors, 0) + FILL(elberrors, 0)",
         "return_data": False},
        {"id": "total", "expression": "FILL(requests, 0) + FILL(elberrors, 0)", "return_data": False},
        {"id": "rate", "expression": "IF(total > 0, errors / total, 0)",
         "label": "5xx error rate (targets and load balancer)", "return_data": True},
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
        widget("Load balancer 5xx per stack",
               [[ALB, "HTTPCode_ELB_5XX_Count", "LoadBalancer", lb, {"label": s, "stat": "Sum"}]
                for s, lb, _tg in stacks], 0, 18),
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
        self.subscription = None
        if args.subscriber:
            protocol, endpoint = args.subscriber
            self.subscription = aws.sns.TopicSubscription(
                f"{name}-alarms-subscriber", topic=self.topic.arn, protocol=protocol,
                endpoint=endpoint, opts=child)
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
            f"{args.prefix}-{key}", name=alarm_name(args.prefix, key), opts=opts, **kwargs)
