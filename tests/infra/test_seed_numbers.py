"""The seed's numbers, written out as the seed writes them (not read back from the spec).

Every other infra test compares the program with `soundbite.spec`; these compare both with
the seed document, so moving a number in the spec (or in a component) fails here.
"""

import base64
import json

import pytest

from soundbite import spec
from tests.infra.pulumi_mocks import program_for

DAY = 86400


@pytest.fixture(scope="module")
def run():
    return program_for("shift-25")


def _alarms(run) -> dict[str, dict]:
    return {r.inputs["name"].removeprefix("soundbite-dev-"): r.inputs
            for r in run.mocks.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}


def _queue(run, name) -> dict:
    [queue] = [r.inputs for r in run.mocks.of_type("aws:sqs/queue:Queue") if r.inputs["name"] == name]
    return queue


def test_queue_numbers_are_the_seeds(run):
    jobs, dlq = _queue(run, "soundbite-dev-jobs"), _queue(run, "soundbite-dev-jobs-dlq")
    assert jobs["visibilityTimeoutSeconds"] == 130  # 120 s Lambda timeout + 10 s margin
    assert jobs["receiveWaitTimeSeconds"] == 20  # long polling
    assert json.loads(jobs["redrivePolicy"])["maxReceiveCount"] == 3
    assert dlq["messageRetentionSeconds"] == 14 * DAY


def test_worker_batch_and_concurrency_are_the_seeds():
    assert spec.RECEIVE_BATCH_SIZE == 10
    assert spec.LAMBDA_CONCURRENCY == 10  # the cap on concurrent syntheses across both stacks
    assert spec.MAX_RECEIVE_COUNT == 3


def test_data_lifetimes_are_the_seeds(run):
    tables = {r.inputs["name"]: r.inputs for r in run.mocks.of_type("aws:dynamodb/table:Table")}
    assert tables["soundbite-dev-soundbites"]["ttl"]["enabled"] is True
    assert spec.SOUNDBITE_TTL_SECONDS == 30 * DAY
    assert spec.IDEMPOTENCY_TTL_SECONDS == 24 * 3600
    [lifecycle] = run.mocks.of_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    [rule] = lifecycle.inputs["rules"]
    assert rule["transitions"][0]["days"] == 30 and rule["transitions"][0]["storageClass"] == "STANDARD_IA"
    assert rule["expiration"]["days"] == 90


def _task_env(run, name) -> dict[str, str]:
    [container] = json.loads(run.mocks.named(name).inputs["containerDefinitions"])
    return {e["name"]: e["value"] for e in container["environment"]}


def test_rate_limit_is_100_per_15_minutes_on_both_stacks(run):
    assert _task_env(run, "fargate-api-task")["SOUNDBITE_RATE_LIMIT"] == "100 per 15 minutes"
    script = base64.b64decode(run.mocks.named("ec2-api-lt").inputs["userData"]).decode()
    assert "SOUNDBITE_RATE_LIMIT=100 per 15 minutes\n" in script


def test_alarm_thresholds_are_the_seeds(run):
    alarms = _alarms(run)
    assert alarms["dlq-messages"]["threshold"] == 1
    assert alarms["dlq-messages"]["comparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarms["queue-depth"]["threshold"] == 100
    assert alarms["oldest-message"]["threshold"] == 5 * 60  # seconds: the seed's 5 minutes
    for stack in ("ec2", "fargate"):
        assert alarms[f"{stack}-error-rate"]["threshold"] == 0.01  # 1 %
        assert alarms[f"{stack}-p95-latency"]["threshold"] == pytest.approx(0.3)  # 300 ms, in s
        assert alarms[f"{stack}-p95-latency"]["extendedStatistic"] == "p95"
        # a p95 of a handful of canary requests is noise: too few samples leave the state alone
        assert alarms[f"{stack}-p95-latency"]["evaluateLowSampleCountPercentiles"] == "ignore"


def test_error_rate_counts_the_load_balancers_own_5xx(run):
    rate = _alarms(run)["fargate-error-rate"]
    metrics = {q["metric"]["metricName"]: q["metric"]["dimensions"]
               for q in rate["metricQueries"] if q.get("metric")}
    assert set(metrics) == {"HTTPCode_Target_5XX_Count", "HTTPCode_ELB_5XX_Count", "RequestCount"}
    # ELB-generated 5xx are published per load balancer only: a TargetGroup dimension would
    # match no data point and the alarm would never see them.
    assert set(metrics["HTTPCode_ELB_5XX_Count"]) == {"LoadBalancer"}
    expressions = " ".join(q.get("expression", "") for q in rate["metricQueries"])
    assert "elberrors" in expressions and "targeterrors" in expressions


def test_fargate_api_health_check_grace_and_ec2_grace_sized_for_the_pull(run):
    api = run.mocks.named("fargate-api-service").inputs
    assert api["healthCheckGracePeriodSeconds"] == 60
    ec2 = run.mocks.named("ec2-api-asg").inputs
    assert ec2["healthCheckGracePeriod"] == 300
    assert ec2["healthCheckType"] == "ELB"


def test_seed_rates_and_schedules():
    assert spec.RATE_LIMIT_DEFAULT == "100 per 15 minutes"
    assert spec.REDRIVE_SCHEDULE == "rate(15 minutes)"
    assert spec.SYNTHESIS_P95_SECONDS == 4.2
