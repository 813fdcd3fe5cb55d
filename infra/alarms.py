"""The migration's CloudWatch alarms as data: one definition, two builders.

The Pulumi program creates them (`infra.components.observability`), and the local stack
creates the same alarms in the emulator (`put_metric_alarm_requests`), so an alarm rehearsed
locally is the alarm production has: same names, metrics, dimensions, statistics and
thresholds. Per stack: the 5xx error rate (targets' and the load balancer's own) above
spec.ALARMS.error_rate, and p95 TargetResponseTime above spec.ALARMS.p95_latency_ms, left
unchanged in a period with too few requests for a p95 (CloudWatch's 10/(1-0.95) = 200: a
canary at 5 % of thin traffic is judged by the judge's statistics, not by a p95 of a handful
of requests). For the queues: DLQ depth, jobs queue depth, age of the oldest job.

Values may be Pulumi Outputs (load balancer suffixes, queue names): nothing here looks
inside them. Argument names are Pulumi's (`metric_name`); the request builder turns them
into CloudWatch's (`MetricName`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from soundbite import spec

ALB = "AWS/ApplicationELB"
SQS = "AWS/SQS"
ERROR_RATE, P95_LATENCY = "error-rate", "p95-latency"


@dataclass(frozen=True)
class StackBalancer:
    """One stack's load balancer as CloudWatch names it: ARN suffixes `app/...`, `targetgroup/...`."""

    stack: str
    load_balancer: Any
    target_group: Any


@dataclass(frozen=True)
class AlarmDefinition:
    key: str  # e.g. "ec2-error-rate"; the alarm is named `<prefix>-<key>`
    args: Mapping[str, Any]  # MetricAlarm arguments, by Pulumi's names


def alarm_name(prefix: str, key: str) -> str:
    """The CloudWatch name of one alarm, known before it exists (ECS deployment alarms use it)."""
    return f"{prefix}-{key}"


def stack_alarm_names(prefix: str, stack: str) -> tuple[str, ...]:
    """The alarms that judge one stack's API: what an ECS deployment rolls back on."""
    return tuple(alarm_name(prefix, f"{stack}-{k}") for k in (ERROR_RATE, P95_LATENCY))


def error_rate_queries(load_balancer: Any, target_group: Any) -> list[dict]:
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


def definitions(stacks: Sequence[StackBalancer], queue_name: Any, dlq_name: Any) -> list[AlarmDefinition]:
    """Every alarm of the migration, in the order the program creates them."""
    a = spec.ALARMS
    evaluation = {"evaluation_periods": a.evaluation_periods, "treat_missing_data": "notBreaching"}
    out = []
    for s in stacks:
        out.append(AlarmDefinition(f"{s.stack}-{ERROR_RATE}", {
            "comparison_operator": "GreaterThanThreshold", "threshold": a.error_rate,
            "metric_queries": error_rate_queries(s.load_balancer, s.target_group), **evaluation}))
        out.append(AlarmDefinition(f"{s.stack}-{P95_LATENCY}", {
            "comparison_operator": "GreaterThanThreshold", "namespace": ALB,
            "metric_name": "TargetResponseTime", "extended_statistic": "p95",
            "threshold": a.p95_latency_ms / 1000,  # the ALB reports seconds
            "evaluate_low_sample_count_percentiles": "ignore",
            "dimensions": {"LoadBalancer": s.load_balancer, "TargetGroup": s.target_group},
            "period": a.period_seconds, **evaluation}))
    queue = {"namespace": SQS, "statistic": "Maximum", "period": a.period_seconds,
             "comparison_operator": "GreaterThanOrEqualToThreshold", **evaluation}
    out += [
        AlarmDefinition("dlq-messages", {"metric_name": "ApproximateNumberOfMessagesVisible",
                                         "threshold": a.dlq_messages,
                                         "dimensions": {"QueueName": dlq_name}, **queue}),
        AlarmDefinition("queue-depth", {"metric_name": "ApproximateNumberOfMessagesVisible",
                                        "threshold": a.queue_depth,
                                        "dimensions": {"QueueName": queue_name}, **queue}),
        AlarmDefinition("oldest-message", {"metric_name": "ApproximateAgeOfOldestMessage",
                                           "threshold": a.oldest_message_seconds,
                                           "dimensions": {"QueueName": queue_name}, **queue}),
    ]
    return out


API_NAMES = {"evaluate_low_sample_count_percentiles": "EvaluateLowSampleCountPercentile"}
"""Where Pulumi's argument name is not CloudWatch's in camel case."""


def _camel(name: str) -> str:
    return API_NAMES.get(name) or "".join(part.capitalize() for part in name.split("_"))


def dimensions(dims: Mapping[str, str]) -> list[dict[str, str]]:
    """Dimensions as CloudWatch's API lists them."""
    return [{"Name": k, "Value": v} for k, v in dims.items()]


def _query_request(query: Mapping[str, Any]) -> dict:
    out = {_camel(k): v for k, v in query.items() if k != "metric"}
    if "metric" in query:
        m = query["metric"]
        out["MetricStat"] = {"Metric": {"Namespace": m["namespace"], "MetricName": m["metric_name"],
                                        "Dimensions": dimensions(m["dimensions"])},
                             "Period": m["period"], "Stat": m["stat"]}
    return out


def put_metric_alarm_request(prefix: str, definition: AlarmDefinition) -> dict:
    """One definition as CloudWatch's PutMetricAlarm request (the local stack's builder)."""
    request: dict[str, Any] = {"AlarmName": alarm_name(prefix, definition.key)}
    for key, value in definition.args.items():
        if key == "dimensions":
            request["Dimensions"] = dimensions(value)
        elif key == "metric_queries":
            request["Metrics"] = [_query_request(q) for q in value]
        else:
            request[_camel(key)] = value
    return request


def put_metric_alarm_requests(prefix: str, stacks: Sequence[StackBalancer], queue_name: str,
                              dlq_name: str) -> list[dict]:
    return [put_metric_alarm_request(prefix, d) for d in definitions(stacks, queue_name, dlq_name)]
