"""The metrics the local rehearsal edge publishes, and the profile the judge reads them with.

The emulator has no percentile statistics, so the edge publishes a latency histogram: per
period, how many requests finished within each bucket bound. Counts add up exactly over any
window, so the judge's p95 is the window's p95 (at bucket resolution, with 300 ms, the
seed's threshold, an exact bound), not the max of noisy per-second values. The edge imports
the names below and `publish_lane_metrics`, so publisher and reader cannot disagree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from migration.metrics import (
    SUM,
    HistogramQuery,
    LaneQueries,
    MetricProfile,
    MetricQuery,
    queue_queries,
)
from soundbite import spec

EDGE_NAMESPACE = "SoundBite/Edge"
LANE_DIMENSION = "Lane"
ENVIRONMENT_DIMENSION = "Environment"
REQUEST_COUNT = "RequestCount"
TARGET_5XX_COUNT = "Target5XXCount"
LATENCY_BUCKET_COUNT = "LatencyBucketCount"
BUCKET_DIMENSION = "Le"
LATENCY_BOUNDS_MS = (10.0, 25.0, 50.0, 100.0, 200.0, spec.ALARMS.p95_latency_ms, 500.0, 750.0,
                     1000.0, 2000.0, 5000.0, float("inf"))
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
            HistogramQuery(EDGE_NAMESPACE, LATENCY_BUCKET_COUNT, LATENCY_BOUNDS_MS,
                           BUCKET_DIMENSION, dims, 0.95, period),
        )

    return MetricProfile("edge", {name: lane(name) for name in lanes},
                         **queue_queries(queue_name, dlq_name))


def bucket_counts(latencies_ms: Sequence[float]) -> dict[float, int]:
    """How many latencies fall in each bucket (first bound at or above the latency)."""
    counts: dict[float, int] = {}
    for latency in latencies_ms:
        bound = next(b for b in LATENCY_BOUNDS_MS if latency <= b)
        counts[bound] = counts.get(bound, 0) + 1
    return counts


def publish_lane_metrics(cloudwatch, lane: str, requests: int, errors: int,
                         latencies_ms: Sequence[float], timestamp: float, *,
                         environment: str = DEFAULT_ENVIRONMENT) -> None:
    """Publish one period of one lane: request and 5xx counts, and the latency histogram."""
    when = dt.datetime.fromtimestamp(int(timestamp), dt.UTC)
    dims = [{"Name": k, "Value": v} for k, v in lane_dimensions(environment, lane).items()]
    data = [
        {"MetricName": REQUEST_COUNT, "Dimensions": dims, "Timestamp": when,
         "Value": float(requests), "Unit": "Count"},
        {"MetricName": TARGET_5XX_COUNT, "Dimensions": dims, "Timestamp": when,
         "Value": float(errors), "Unit": "Count"},
    ]
    for bound, count in bucket_counts(latencies_ms).items():
        label = "+Inf" if bound == float("inf") else f"{bound:g}"
        data.append({"MetricName": LATENCY_BUCKET_COUNT, "Timestamp": when, "Unit": "Count",
                     "Dimensions": [*dims, {"Name": BUCKET_DIMENSION, "Value": label}],
                     "Value": float(count)})
    cloudwatch.put_metric_data(Namespace=EDGE_NAMESPACE, MetricData=data)
