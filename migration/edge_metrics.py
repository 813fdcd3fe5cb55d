"""What the local edge publishes: the metrics an Application Load Balancer publishes, as raw values.

Each lane stands for one stack behind a load balancer of its own. Every period the edge
publishes what that balancer would: `RequestCount`, `HTTPCode_Target_5XX_Count` and
`TargetResponseTime` (seconds, each request's own value, so CloudWatch computes true
percentiles) under the LoadBalancer and TargetGroup dimensions, and `HTTPCode_ELB_5XX_Count`
(answers the balancer gave itself: target unreachable) under LoadBalancer alone. The judge
reads them with the production `alb` profile and the spec's alarms watch them, as in AWS.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator, Sequence

from infra.alarms import ALB, StackBalancer, dimensions
from soundbite import spec

DEFAULT_ENVIRONMENT = "local"
EDGE_PERIOD_SECONDS = 1
"""The edge publishes every second (CloudWatch high resolution), so the rehearsal judges fast."""
MAX_VALUES_PER_DATUM = 150
"""CloudWatch takes at most 150 distinct values (with their counts) in one datum."""
RESPONSE_TIME_DECIMALS = 4
"""Response times are published to 0.1 ms, so repeated values share one entry."""


def balancer(environment: str, lane: str) -> StackBalancer:
    """The ARN suffixes the lane's load balancer and target group stand in for."""
    name = f"soundbite-{environment}-{lane}"
    return StackBalancer(lane, f"app/{name}/local", f"targetgroup/{name}/local")


def balancer_names(environment: str, lanes: Sequence[str] = spec.STACKS) -> dict[str, dict[str, str]]:
    """`load_balancers` and `target_groups` for a target file, lane by lane."""
    each = [balancer(environment, lane) for lane in lanes]
    return {"load_balancers": {b.stack: b.load_balancer for b in each},
            "target_groups": {b.stack: b.target_group for b in each}}


def response_times(latencies_ms: Sequence[float]) -> Iterator[tuple[list[float], list[float]]]:
    """Latencies as CloudWatch `Values`/`Counts` in seconds, at most 150 values a datum."""
    counted = sorted(Counter(round(ms / 1000, RESPONSE_TIME_DECIMALS) for ms in latencies_ms).items())
    for i in range(0, len(counted), MAX_VALUES_PER_DATUM):
        chunk = counted[i:i + MAX_VALUES_PER_DATUM]
        yield [v for v, _ in chunk], [float(c) for _, c in chunk]


def publish_lane_metrics(cloudwatch, lane: str, requests: int, errors: int,
                         latencies_ms: Sequence[float], timestamp: float, *,
                         environment: str = DEFAULT_ENVIRONMENT, balancer_errors: int = 0) -> None:
    """Publish one period of one lane's load balancer.

    `requests`, `errors` (5xx) and `latencies_ms` are what its targets answered;
    `balancer_errors` the 5xx the balancer answered itself (they never reached a target)."""
    lb = balancer(environment, lane)
    when = dt.datetime.fromtimestamp(int(timestamp), dt.UTC)
    target = dimensions({"LoadBalancer": lb.load_balancer, "TargetGroup": lb.target_group})
    common = {"Timestamp": when, "StorageResolution": 1}
    data = [
        {"MetricName": "RequestCount", "Dimensions": target, "Value": float(requests),
         "Unit": "Count", **common},
        {"MetricName": "HTTPCode_Target_5XX_Count", "Dimensions": target, "Value": float(errors),
         "Unit": "Count", **common},
        {"MetricName": "HTTPCode_ELB_5XX_Count", "Dimensions": dimensions({"LoadBalancer": lb.load_balancer}),
         "Value": float(balancer_errors), "Unit": "Count", **common},
    ]
    data += [{"MetricName": "TargetResponseTime", "Dimensions": target, "Values": values,
              "Counts": counts, "Unit": "Seconds", **common}
             for values, counts in response_times(latencies_ms)]
    cloudwatch.put_metric_data(Namespace=ALB, MetricData=data)


def target_fields(environment: str, lanes: Sequence[str] = spec.STACKS) -> dict:
    """What a target file says to judge on the edge's metrics: the load balancer names and
    their one-second period."""
    return {**balancer_names(environment, lanes), "metric_period_seconds": EDGE_PERIOD_SECONDS}
