"""What a reviewer checks by hand: IAM scope, tags, TLS, alarms, one environment for both
stacks, stop timeouts, rollout safety and the redrive schedule."""

import base64
import importlib
import inspect
import json

import pytest

from infra.components.iam import UNSCOPED_ACTIONS
from soundbite import spec
from tests.infra.pulumi_mocks import program_for


@pytest.fixture(scope="module")
def run():
    return program_for("shift-25")


def _policies(run):
    return {r.name: json.loads(r.inputs["policy"]) for r in run.mocks.of_type("aws:iam/rolePolicy:RolePolicy")}


def test_iam_statements_name_actions_and_scope_resources(run):
    policies = _policies(run)
    assert {"ec2-roles-api-policy", "ec2-roles-worker-policy", "fargate-roles-api-policy",
            "fargate-roles-worker-policy", "fargate-roles-execution-policy", "redrive-task-policy"} <= set(policies)
    for name, doc in policies.items():
        for st in doc["Statement"]:
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            assert all("*" not in a for a in actions), (name, actions)
            if "*" in st["Resource"]:
                assert set(actions) <= UNSCOPED_ACTIONS, (name, actions)


def test_api_and_worker_roles_reach_only_their_own_data(run):
    api = _policies(run)["fargate-roles-api-policy"]["Statement"]
    worker = _policies(run)["fargate-roles-worker-policy"]["Statement"]
    api_actions = {a for st in api for a in st["Action"]}
    worker_actions = {a for st in worker for a in st["Action"]}
    assert "sqs:ReceiveMessage" not in api_actions and "s3:PutObject" not in api_actions
    assert "sqs:ReceiveMessage" in worker_actions and "polly:SynthesizeSpeech" in worker_actions
    table = f"table/{spec.ResourceNames('dev').table(spec.SOUNDBITES_TABLE)}"
    query = next(st for st in api if "dynamodb:Query" in st["Action"])
    assert any(r.endswith(table) for r in query["Resource"])
    assert any(r.endswith(f"{table}/index/*") for r in query["Resource"])
    put = next(st for st in worker if "s3:PutObject" in st["Action"])
    bucket = f"{spec.ResourceNames('dev').bucket()}-123456789012-us-east-1"
    assert put["Resource"] == [f"arn:aws:s3:::{bucket}/{spec.AUDIO_BUCKET.audio_prefix}*"]


def _taggable(typ: str) -> bool:
    _, mod, cls = typ.split(":")
    module = importlib.import_module(f"pulumi_aws.{mod.split('/')[0]}")
    return "tags" in inspect.signature(getattr(module, cls)._internal_init).parameters


def test_every_taggable_resource_carries_the_required_tags(run):
    checked = 0
    for r in run.mocks.resources:
        if not r.typ.startswith("aws:") or not _taggable(r.typ):
            continue
        tags = r.inputs.get("tags")
        if isinstance(tags, list):  # auto scaling groups: [{key, value, propagateAtLaunch}]
            tags = {t["key"]: t["value"] for t in tags}
        assert tags and set(spec.REQUIRED_TAGS) <= set(tags), r.name
        assert tags["Environment"] == "dev"
        checked += 1
    assert checked > 40


def test_listeners_serve_https_with_the_tls_policy_and_redirect_http(run):
    """Plain HTTP redirects GET and HEAD only: a redirect (301 or 302, all a load balancer
    offers) turns a POST into a GET, so anything else gets a 400 saying to use HTTPS."""
    listeners = run.mocks.of_type("aws:lb/listener:Listener")
    assert len(listeners) == 4
    for lst in listeners:
        if lst.inputs["protocol"] == "HTTPS":
            assert lst.inputs["sslPolicy"] == spec.TLS_POLICY and lst.inputs["certificateArn"]
        else:
            [action] = lst.inputs["defaultActions"]
            assert action["type"] == "fixed-response" and action["fixedResponse"]["statusCode"] == "400"
            assert json.loads(action["fixedResponse"]["messageBody"])["title"] == "HTTPS required"
    rules = run.mocks.of_type("aws:lb/listenerRule:ListenerRule")
    internal = [r for r in rules if "pathPattern" in r.inputs["conditions"][0]]
    rules = [r for r in rules if r not in internal]
    assert len(rules) == 2 and len(internal) == 2, "one of each per stack"
    for rule in internal:  # readiness is not public: its 503s would feed the alarms and the judge
        assert rule.inputs["conditions"][0]["pathPattern"]["values"] == ["/readyz"]
        [action] = rule.inputs["actions"]
        assert action["type"] == "fixed-response" and action["fixedResponse"]["statusCode"] == "404"
    for rule in rules:
        [condition] = rule.inputs["conditions"]
        assert sorted(condition["httpRequestMethod"]["values"]) == ["GET", "HEAD"]
        [action] = rule.inputs["actions"]
        assert action["type"] == "redirect" and action["redirect"]["protocol"] == "HTTPS"
    for tg in run.mocks.of_type("aws:lb/targetGroup:TargetGroup"):
        assert tg.inputs["healthCheck"]["path"] == spec.HEALTH_CHECK_PATH
        assert tg.inputs["port"] == spec.API_PORT
    for alb in run.mocks.of_type("aws:lb/loadBalancer:LoadBalancer"):
        assert alb.inputs["idleTimeout"] == spec.ALB_IDLE_TIMEOUT_SECONDS < spec.GUNICORN_KEEPALIVE_SECONDS


def test_alarms_carry_the_seed_thresholds_per_stack_and_for_the_queues(run):
    alarms = {r.inputs["name"].removeprefix("soundbite-dev-"): r.inputs
              for r in run.mocks.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    a = spec.ALARMS
    assert set(alarms) == {"ec2-error-rate", "ec2-p95-latency", "fargate-error-rate", "fargate-p95-latency",
                           "dlq-messages", "queue-depth", "oldest-message"}
    assert alarms["dlq-messages"]["threshold"] == a.dlq_messages
    assert alarms["dlq-messages"]["dimensions"] == {"QueueName": "soundbite-dev-jobs-dlq"}
    assert alarms["queue-depth"]["threshold"] == a.queue_depth
    assert alarms["oldest-message"]["threshold"] == a.oldest_message_seconds
    for stack in ("ec2", "fargate"):
        latency = alarms[f"{stack}-p95-latency"]
        assert latency["extendedStatistic"] == "p95"
        assert latency["threshold"] == pytest.approx(a.p95_latency_ms / 1000)
        assert latency["dimensions"]["TargetGroup"] == run.exports[f"{stack}TargetGroupArnSuffix"]
        rate = alarms[f"{stack}-error-rate"]
        assert rate["threshold"] == a.error_rate
        assert any("errors / total" in q.get("expression", "") for q in rate["metricQueries"])
    assert all(al["evaluationPeriods"] == a.evaluation_periods and al["alarmActions"] for al in alarms.values())
    assert sorted(run.exports["alarmNames"]) == sorted(f"soundbite-dev-{k}" for k in alarms)


def test_dashboard_shows_both_stacks_on_the_same_graphs(run):
    [dash] = run.mocks.of_type("aws:cloudwatch/dashboard:Dashboard")
    body = json.loads(dash.inputs["dashboardBody"])
    requests = next(w for w in body["widgets"] if w["properties"]["title"] == "Requests per stack")
    assert [m[-1]["label"] for m in requests["properties"]["metrics"]] == ["ec2", "fargate"]


def _container_env(run, task_name):
    task = run.mocks.named(task_name)
    [container] = json.loads(task.inputs["containerDefinitions"])
    return container, {e["name"]: e["value"] for e in container["environment"]}


def _user_data_env(run, template_name):
    script = base64.b64decode(run.mocks.named(template_name).inputs["userData"]).decode()
    block = script.split("<<'SOUNDBITE_ENV'\n", 1)[1].split("\nSOUNDBITE_ENV\n", 1)[0]
    return script, dict(line.split("=", 1) for line in block.splitlines())


def test_both_stacks_run_the_same_image_with_the_same_environment_but_the_backend(run):
    api, fargate_env = _container_env(run, "fargate-api-task")
    worker, worker_env = _container_env(run, "fargate-worker-task")
    script, ec2_env = _user_data_env(run, "ec2-api-lt")
    assert fargate_env == worker_env
    assert fargate_env.pop("SOUNDBITE_BACKEND") == "fargate"
    assert ec2_env.pop("SOUNDBITE_BACKEND") == "ec2"
    assert fargate_env == ec2_env
    assert fargate_env["SOUNDBITE_SYNTHESIZER"] == "polly"
    assert fargate_env["SOUNDBITE_QUEUE_URL"].endswith("/soundbite-dev-jobs")
    image = run.exports["image"]
    assert api["image"] == worker["image"] == image and image.endswith(":v1")
    assert (api["command"], worker["command"]) == (["soundbite", "api"], ["soundbite", "worker"])
    assert f"{image} soundbite api" in script.replace("'", "")


def test_worker_stop_timeout_exceeds_its_grace_period_on_both_stacks(run):
    worker, _ = _container_env(run, "fargate-worker-task")
    assert worker["stopTimeout"] == spec.ECS_STOP_TIMEOUT_SECONDS > spec.WORKER_GRACE_SECONDS
    script, _ = _user_data_env(run, "ec2-worker-lt")
    assert f"--stop-timeout {spec.ECS_STOP_TIMEOUT_SECONDS}" in script
    assert spec.GUNICORN_GRACEFUL_TIMEOUT_SECONDS < spec.ECS_STOP_TIMEOUT_SECONDS


def test_fargate_services_roll_back_failed_deployments_and_scale_on_load(run):
    for name in ("fargate-api-service", "fargate-worker-service"):
        service = run.mocks.named(name).inputs
        assert service["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
        assert service["launchType"] == "FARGATE"
        assert service["networkConfiguration"]["assignPublicIp"] is False
    policies = {r.name: r.inputs["targetTrackingScalingPolicyConfiguration"]
                for r in run.mocks.of_type("aws:appautoscaling/policy:Policy")}
    requests = policies["fargate-scaling-api-requests"]
    assert requests["predefinedMetricSpecification"]["predefinedMetricType"] == "ALBRequestCountPerTarget"
    assert requests["predefinedMetricSpecification"]["resourceLabel"] == (
        f"{run.exports['fargateLoadBalancerArnSuffix']}/{run.exports['fargateTargetGroupArnSuffix']}")
    backlog = policies["fargate-scaling-worker-backlog"]
    assert backlog["targetValue"] == spec.WORKER_SCALE_BACKLOG_PER_TASK
    queues = [m["metricStat"]["metric"]["dimensions"][0]["value"]
              for m in backlog["customizedMetricSpecification"]["metrics"] if "metricStat" in m]
    assert "soundbite-dev-jobs" in queues


def test_redrive_runs_every_15_minutes_in_dev_and_not_at_all_in_prod(run):
    [schedule] = run.mocks.of_type("aws:scheduler/schedule:Schedule")
    assert schedule.inputs["scheduleExpression"] == spec.REDRIVE_SCHEDULE == "rate(15 minutes)"
    container, _ = _container_env(run, "redrive-task")
    assert container["command"] == ["soundbite", "dlq", "redrive", "--yes"]
    prod = program_for("shift-25", environment="prod", apiName="api.example.com")
    assert not prod.mocks.of_type("aws:scheduler/schedule:Schedule")
    assert not [r for r in prod.mocks.resources if r.name.startswith("redrive")]


def test_exports_name_everything_the_migration_commands_read(run):
    for key in ("hostedZoneId", "recordName", "setIdentifiers", "ec2DirectName", "fargateDirectName",
                "ec2TargetGroupArnSuffix", "ec2LoadBalancerArnSuffix", "fargateTargetGroupArnSuffix",
                "fargateLoadBalancerArnSuffix", "fargateClusterName", "fargateApiServiceName",
                "fargateWorkerServiceName", "ec2AsgName", "ec2WorkerAsgName", "ledgerTableName",
                "queueName", "dlqName", "migrationPhase"):
        assert run.exports.get(key), key
    assert run.exports["fargateDirectName"] == "fargate.api.dev.example.com"
    assert run.exports["fargateClusterName"] == "soundbite-dev-fargate"


def test_certificate_is_validated_by_a_cname_with_the_spec_ttl(run):
    [cert] = run.mocks.of_type("aws:acm/certificate:Certificate")
    assert cert.inputs["subjectAlternativeNames"] == ["*.api.dev.example.com"]
    validation = run.mocks.named("api-validation").inputs
    assert validation["type"] == "CNAME" and validation["ttl"] == spec.DNS_RECORD_TTL_SECONDS
    given = program_for("shift-25", certificateArn="arn:aws:acm:us-east-1:1:certificate/x")
    assert not given.mocks.of_type("aws:acm/certificate:Certificate")
    https = [r for r in given.mocks.of_type("aws:lb/listener:Listener") if r.inputs["protocol"] == "HTTPS"]
    assert {r.inputs["certificateArn"] for r in https} == {"arn:aws:acm:us-east-1:1:certificate/x"}


def test_the_local_stack_creates_exactly_the_alarms_the_program_creates(run):
    """The rehearsal's alarms are the program's: the same definitions, as CloudWatch requests."""
    from infra.alarms import StackBalancer, definitions, put_metric_alarm_request

    alarms = {r.inputs["name"]: r.inputs for r in run.mocks.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    dims = {name.removeprefix("soundbite-dev-"): a.get("dimensions") for name, a in alarms.items()}
    stacks = [StackBalancer(s, dims[f"{s}-p95-latency"]["LoadBalancer"], dims[f"{s}-p95-latency"]["TargetGroup"])
              for s in ("ec2", "fargate")]
    local = [put_metric_alarm_request("soundbite-dev", d) for d in definitions(
        stacks, dims["queue-depth"]["QueueName"], dims["dlq-messages"]["QueueName"])]
    assert sorted(r["AlarmName"] for r in local) == sorted(alarms)
    for request in local:
        program = alarms[request["AlarmName"]]
        for key, value in request.items():
            if key == "Dimensions":
                assert {d["Name"]: d["Value"] for d in value} == program["dimensions"]
            elif key == "Metrics":
                assert [q["Id"] for q in value] == [q["id"] for q in program["metricQueries"]]
                assert [q.get("Expression") for q in value] == [q.get("expression") for q in program["metricQueries"]]
            elif key == "EvaluateLowSampleCountPercentile":  # Pulumi names it in the plural
                assert program["evaluateLowSampleCountPercentiles"] == value
            elif key != "AlarmName":
                assert program[key[0].lower() + key[1:]] == value, key
