"""Metric queries as data, and the CloudWatch reader that turns them into lane windows.

A profile names, per lane, the queries for requests, 5xx errors and p95 latency, plus the
queue queries (DLQ depth, oldest message age). There is one profile, `alb`: each stack's load
balancer and the queues. The local rehearsal's edge publishes the same metrics
(`edge_metrics`), so the judge asks the emulator exactly what it asks CloudWatch.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from migration.judge import LaneWindow
from soundbite import spec

SUM, MAXIMUM = "Sum", "Maximum"
ALB_NAMESPACE = "AWS/ApplicationELB"
SQS_NAMESPACE = "AWS/SQS"
METRIC_PERIOD_SECONDS = spec.ALARMS.period_seconds


@dataclass(frozen=True)
class MetricQuery:
    """One CloudWatch statistic: `stat` is a statistic ("Sum") or an extended one ("p95")."""

    namespace: str
    metric: str
    stat: str
    dimensions: Mapping[str, str] = field(default_factory=dict)
    period: int = METRIC_PERIOD_SECONDS
    scale: float = 1.0  # e.g. 1000 to read seconds as milliseconds

    @property
    def is_extended(self) -> bool:
        return self.stat.startswith("p")


@dataclass(frozen=True)
class LaneQueries:
    requests: MetricQuery
    errors: MetricQuery
    p95_ms: MetricQuery
    balancer_errors: MetricQuery | None = None
    """5xx the load balancer answered itself (no healthy target, target reset): a crashed
    task shows up here, not in the targets' own 5xx count."""


@dataclass(frozen=True)
class MetricProfile:
    name: str
    lanes: Mapping[str, LaneQueries]
    dlq_messages: MetricQuery | None = None
    oldest_message_seconds: MetricQuery | None = None


def queue_queries(queue_name: str | None, dlq_name: str | None) -> dict:
    """SQS queries shared by both profiles (the edge cannot see queues, CloudWatch can)."""
    out = {}
    if dlq_name:
        out["dlq_messages"] = MetricQuery(SQS_NAMESPACE, "ApproximateNumberOfMessagesVisible",
                                          MAXIMUM, {"QueueName": dlq_name})
    if queue_name:
        out["oldest_message_seconds"] = MetricQuery(SQS_NAMESPACE, "ApproximateAgeOfOldestMessage",
                                                    MAXIMUM, {"QueueName": queue_name})
    return out


def alb_profile(load_balancers: Mapping[str, str], target_groups: Mapping[str, str],
                queue_name: str | None = None, dlq_name: str | None = None,
                period: int = METRIC_PERIOD_SECONDS) -> MetricProfile:
    """Each stack's own ALB (`app/...` suffix) and target group (`targetgroup/...`).

    `period` is the metrics' resolution: an ALB publishes per minute; the local edge per second."""

    def lane(name: str) -> LaneQueries:
        balancer = {"LoadBalancer": load_balancers[name]}
        dims = {**balancer, "TargetGroup": target_groups[name]}
        return LaneQueries(
            MetricQuery(ALB_NAMESPACE, "RequestCount", SUM, dims, period),
            MetricQuery(ALB_NAMESPACE, "HTTPCode_Target_5XX_Count", SUM, dims, period),
            MetricQuery(ALB_NAMESPACE, "TargetResponseTime", "p95", dims, period, scale=1000.0),
            balancer_errors=MetricQuery(ALB_NAMESPACE, "HTTPCode_ELB_5XX_Count", SUM, balancer, period),
        )

    return MetricProfile("alb", {name: lane(name) for name in target_groups},
                         **queue_queries(queue_name, dlq_name))


HIGH_RESOLUTION_PERIODS = (1, 5, 10, 20, 30)


def whole_period(span: float, resolution: int) -> int | None:
    """The longest period GetMetricData accepts that fits in `span` seconds of metrics published
    every `resolution` seconds; None when the span holds none."""
    if span >= 60:
        return int(span // 60) * 60
    fitting = [p for p in HIGH_RESOLUTION_PERIODS if resolution <= p <= span and p % resolution == 0]
    return fitting[-1] if fitting and resolution < 60 else None


class CloudWatchMetrics:
    """Reads a profile's queries over a window; no datapoints means None, never zero traffic."""

    def __init__(self, profile: MetricProfile, client=None):
        self.profile = profile
        self._client = client

    @property
    def client(self):
        if self._client is None:
            import boto3

            self._client = boto3.client("cloudwatch")
        return self._client

    def read(self, query: MetricQuery, start: float, end: float) -> float | None:
        """The statistic over [start, end): sums add up, maxima and percentiles take the max."""
        kwargs = {
            "Namespace": query.namespace, "MetricName": query.metric,
            "Dimensions": [{"Name": k, "Value": v} for k, v in query.dimensions.items()],
            # Whole periods inside the window only: a period that began before `start` (say,
            # before a weight change settled) would mix the old traffic into the new window.
            "StartTime": dt.datetime.fromtimestamp(math.ceil(start), dt.UTC),
            "EndTime": dt.datetime.fromtimestamp(math.floor(end), dt.UTC),
            "Period": query.period,
        }
        if math.floor(end) <= math.ceil(start):
            return None
        if query.is_extended:
            return self.read_percentile(query, start, end)
        kwargs["Statistics"] = [query.stat]
        points = self.client.get_metric_statistics(**kwargs)["Datapoints"]
        if not points:
            return None
        values = [p[query.stat] for p in points]
        total = sum(values) if query.stat == SUM else max(values)
        return total * query.scale

    def read_percentile(self, query: MetricQuery, start: float, end: float) -> float | None:
        """A true percentile of the window: GetMetricData with the window as its one period.

        A p95 over several periods is not their max (the max of per-minute p95s biases it
        upward, and more so the thinner the traffic), so the window's whole periods are asked
        for as a single period, ending at `end`: the longest period CloudWatch accepts that
        fits in the window (a multiple of 60 s; below a minute, one of 1, 5, 10, 20, 30 s for
        high-resolution metrics)."""
        high = math.floor(end)
        period = whole_period(high - math.ceil(start), query.period)
        if period is None:
            return None
        low = high - period
        metric = {"Namespace": query.namespace, "MetricName": query.metric,
                  "Dimensions": [{"Name": k, "Value": v} for k, v in query.dimensions.items()]}
        result = self.client.get_metric_data(
            MetricDataQueries=[{"Id": "q", "ReturnData": True,
                                "MetricStat": {"Metric": metric, "Period": period, "Stat": query.stat}}],
            StartTime=dt.datetime.fromtimestamp(low, dt.UTC),
            EndTime=dt.datetime.fromtimestamp(high, dt.UTC))
        values = [v for r in result["MetricDataResults"] for v in r.get("Values", [])]
        if not values:
            return None
        # CloudWatch may split a period that is not aligned to its clock: the max of the
        # parts is then the cautious bound.
        return max(values) * query.scale

    def lane(self, name: str, start: float, end: float) -> LaneWindow:
        queries = self.profile.lanes[name]
        balancer = 0.0
        if queries.balancer_errors is not None:
            balancer = self.read(queries.balancer_errors, start, end) or 0.0
        # Requests the balancer answered itself never reached a target, so the target
        # group's RequestCount misses them: they are the lane's requests and its errors.
        return LaneWindow(
            requests=(self.read(queries.requests, start, end) or 0.0) + balancer,
            errors=(self.read(queries.errors, start, end) or 0.0) + balancer,
            balancer_errors=balancer,
            p95_ms=self.read(queries.p95_ms, start, end),
        )

    def dlq_messages(self, start: float, end: float) -> float | None:
        q = self.profile.dlq_messages
        return self.read(q, start, end) if q else None

    def oldest_message_seconds(self, start: float, end: float) -> float | None:
        q = self.profile.oldest_message_seconds
        return self.read(q, start, end) if q else None
