"""The metrics the local rehearsal edge publishes, and the profile the judge reads them with.

The emulator has no percentile statistics, so the edge computes each period's p95 itself
and publishes it as a plain value; the judge reads it with `Maximum`. The edge imports the
names below and `publish_lane_metrics`, so publisher and reader cannot disagree.
"""

from __future__ import annotations

import datetime as dt

from migration.metrics import MAXIMUM, SUM, LaneQueries, MetricProfile, MetricQuery, queue_queries

EDGE_NAMESPACE = "SoundBite/Edge"
LANE_DIMENSION = "Lane"
ENVIRONMENT_DIMENSION = "Environment"
REQUEST_COUNT = "RequestCount"
TARGET_5XX_COUNT = "Target5XXCount"
LATENCY_P95_MS = "LatencyP95Ms"
DEFAULT_ENVIRONMENT = "local"


def lane_dimensions(environment: str, lane: str) -> dict[str, str]:
    return {ENVIRONMENT_DIMENSION: environment, LANE_DIMENSION: lane}


EDGE_PERIOD_SECONDS = 1
"""The edge publishes every second (CloudWatch high resolution), so the rehearsal judges fast."""


def edge_profile(environment: str, lanes: tuple[str, ...], queue_name: str | None = None,
                 dlq_name: str | None = None, period: int = EDGE_PERIOD_SECONDS) -> MetricProfile:
    def lane(name: str) -> LaneQueries:
        dims = lane_dimensions(environment, name)
        return LaneQueries(
            MetricQuery(EDGE_NAMESPACE, REQUEST_COUNT, SUM, dims, period),
            MetricQuery(EDGE_NAMESPACE, TARGET_5XX_COUNT, SUM, dims, period),
            MetricQuery(EDGE_NAMESPACE, LATENCY_P95_MS, MAXIMUM, dims, period),
        )

    return MetricProfile("edge", {name: lane(name) for name in lanes},
                         **queue_queries(queue_name, dlq_name))


def publish_lane_metrics(cloudwatch, lane: str, requests: int, errors: int, p95_ms: float | None,
                         timestamp: float, *, environment: str = DEFAULT_ENVIRONMENT) -> None:
    """Publish one period of one lane: request and 5xx counts, and the p95 when any request ran."""
    when = dt.datetime.fromtimestamp(int(timestamp), dt.UTC)
    dims = [{"Name": k, "Value": v} for k, v in lane_dimensions(environment, lane).items()]
    data = [
        {"MetricName": REQUEST_COUNT, "Dimensions": dims, "Timestamp": when,
         "Value": float(requests), "Unit": "Count"},
        {"MetricName": TARGET_5XX_COUNT, "Dimensions": dims, "Timestamp": when,
         "Value": float(errors), "Unit": "Count"},
    ]
    if p95_ms is not None and requests > 0:
        data.append({"MetricName": LATENCY_P95_MS, "Dimensions": dims, "Timestamp": when,
                     "Value": float(p95_ms), "Unit": "Milliseconds"})
    cloudwatch.put_metric_data(Namespace=EDGE_NAMESPACE, MetricData=data)
