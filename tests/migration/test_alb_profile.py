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
