"""Production metrics: each stack read from its own ALB, balancer 5xx counted as the stack's."""

import datetime as dt
import time

from migration.metrics import CloudWatchMetrics, alb_profile


def put(cloudwatch, name, value, **dims):
    cloudwatch.put_metric_data(Namespace="AWS/ApplicationELB", MetricData=[{
        "MetricName": name, "Value": value, "Unit": "Count",
        "Timestamp": dt.datetime.fromtimestamp(int(time.time()) - 30, dt.UTC),
        "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
    }])


def test_each_lane_reads_its_own_balancer_and_counts_balancer_5xx(boto_session):
    cloudwatch = boto_session.client("cloudwatch")
    suffix = str(time.time_ns())
    balancers = {"ec2": f"app/ec2-{suffix}/1", "fargate": f"app/fargate-{suffix}/2"}
    groups = {"ec2": f"targetgroup/ec2-{suffix}/1", "fargate": f"targetgroup/fg-{suffix}/2"}
    for lane, requests, target_5xx, elb_5xx in (("ec2", 900, 1, 0), ("fargate", 100, 2, 7)):
        tg = {"LoadBalancer": balancers[lane], "TargetGroup": groups[lane]}
        put(cloudwatch, "RequestCount", requests, **tg)
        put(cloudwatch, "HTTPCode_Target_5XX_Count", target_5xx, **tg)
        put(cloudwatch, "HTTPCode_ELB_5XX_Count", elb_5xx, LoadBalancer=balancers[lane])
    metrics = CloudWatchMetrics(alb_profile(balancers, groups), client=cloudwatch)
    now = time.time()
    fargate = metrics.lane("fargate", now - 300, now + 60)
    ec2 = metrics.lane("ec2", now - 300, now + 60)
    # a crashed task's 502s count too, as requests the lane got and as its errors
    assert (fargate.requests, fargate.errors, fargate.balancer_errors) == (107, 9, 7)
    assert (ec2.requests, ec2.errors) == (900, 1)


def test_the_p95_window_is_one_period_cloudwatch_accepts():
    from migration.metrics import whole_period

    assert whole_period(137, 60) == 120  # regular resolution: whole minutes
    assert whole_period(137, 1) == 120  # high resolution beyond a minute: whole minutes too
    assert whole_period(47, 1) == 30 and whole_period(7, 1) == 5 and whole_period(1, 1) == 1
    assert whole_period(47, 60) is None  # less than one period of minute metrics
    assert whole_period(0.5, 1) is None


def test_a_p95_is_the_windows_own_not_the_worst_periods(boto_session):
    """TargetResponseTime published per request over 20 one-second periods: one second with
    half its requests at 900 ms (2.5 % of the window) leaves the window's p95 fast, where the
    max of per-period p95 values would report 900 ms."""
    from migration.edge_metrics import publish_lane_metrics
    from migration.edge_metrics import target_fields as edge_target_fields

    cloudwatch = boto_session.client("cloudwatch")
    environment = f"p{time.time_ns()}"
    # The window ends on a multiple of its 20 s: the emulator, as CloudWatch may, splits a
    # window that is not aligned to its clock, and the reader then takes the worst part.
    end = int(time.time()) // 20 * 20
    for second in range(end - 20, end):
        latencies = [900.0] * 10 + [40.0] * 10 if second == end - 10 else [40.0] * 20
        publish_lane_metrics(cloudwatch, "fargate", 20, 0, latencies, second, environment=environment)
    fields = edge_target_fields(environment)
    metrics = CloudWatchMetrics(alb_profile(fields["load_balancers"], fields["target_groups"],
                                            period=fields["metric_period_seconds"]), client=cloudwatch)
    window = metrics.lane("fargate", end - 20, end)
    assert window.requests == 400
    assert window.p95_ms == 40.0
