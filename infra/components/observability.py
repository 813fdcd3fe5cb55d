"""Alarms and one dashboard: the seed's thresholds, per stack and for the queues.

The alarms are `infra.alarms`' definitions (the local rehearsal creates the same ones in the
emulator), wired to one SNS topic. The dashboard puts both stacks on the same graphs so a
migration can be watched side by side.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra import alarms
from soundbite import spec

ALB, SQS = alarms.ALB, alarms.SQS


@dataclass(frozen=True)
class ObservabilityArgs:
    prefix: str  # e.g. "soundbite-dev"
    region: str
    stacks: tuple[alarms.StackBalancer, ...]
    queue_name: pulumi.Input[str]
    dlq_name: pulumi.Input[str]
    subscriber: tuple[str, str] | None = None  # (SNS protocol, endpoint), see config.alarm_subscriber
    tags: dict[str, str] = field(default_factory=dict)


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
        self.topic = aws.sns.Topic(f"{name}-alarms", tags=args.tags, opts=child)
        self.subscription = None
        if args.subscriber:
            protocol, endpoint = args.subscriber
            self.subscription = aws.sns.TopicSubscription(
                f"{name}-alarms-subscriber", topic=self.topic.arn, protocol=protocol,
                endpoint=endpoint, opts=child)
        self.alarms = {}
        actions = {"alarm_actions": [self.topic.arn], "ok_actions": [self.topic.arn], "tags": args.tags}
        for definition in alarms.definitions(args.stacks, args.queue_name, args.dlq_name):
            self.alarms[definition.key] = aws.cloudwatch.MetricAlarm(
                f"{args.prefix}-{definition.key}", name=alarms.alarm_name(args.prefix, definition.key),
                opts=child, **definition.args, **actions)
        body = pulumi.Output.all(args.queue_name, args.dlq_name, *[
            pulumi.Output.all(s.stack, s.load_balancer, s.target_group) for s in args.stacks
        ]).apply(lambda v: dashboard_body(args.region, [tuple(x) for x in v[2:]], v[0], v[1]))
        self.dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard", dashboard_name=f"{args.prefix}-migration", dashboard_body=body, opts=child)
        self.register_outputs({"alarm_names": [al.name for al in self.alarms.values()]})
