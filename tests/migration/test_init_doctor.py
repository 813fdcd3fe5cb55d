"""`migrate init` writes the target from the stack's outputs; `migrate doctor` checks region,
identity, every named resource and the operator's permissions (IAM policy simulation, on
the emulator that has one), through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import boto3

from infra.local import bootstrap, cognito
from migration.dns_setup import create_weighted_zone
from migration.doctor import OPERATOR_POLICY, Doctor, Finding, passed
from migration.synthetic import SYNTHETIC_PASSWORD_ENV, synthetic_username
from migration.target import load_target
from soundbite.exit_codes import ExitCode
from tests.infra.test_emulator import ministack  # noqa: F401 - the fixture

ROOT = Path(__file__).resolve().parents[2]


def soundbite(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "soundbite.cli", "migrate", *args], capture_output=True,
                          text=True, timeout=120, cwd=ROOT, env={**os.environ, "COLUMNS": "200", **env})


def deployed(em) -> dict:
    """A stack's resources on the emulator `em`, and the outputs its program would export."""
    environment = f"d{uuid.uuid4().hex[:8]}"
    plane = bootstrap.bootstrap(em.endpoint, environment=environment)
    name = f"{environment}.example.com"
    zone_id = create_weighted_zone(em.client("route53"), name, f"api.{name}",
                                   {"ec2": f"ec2.{name}", "fargate": f"fargate.{name}"},
                                   {"ec2": 100, "fargate": 0})
    em.client("cloudwatch").put_metric_alarm(
        AlarmName=f"soundbite-{environment}-fargate-5xx", MetricName="m", Namespace="X", Statistic="Sum",
        Period=60, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold")
    return {
        "environment": environment, "hostedZoneId": zone_id, "recordName": f"api.{name}",
        "ledgerTableName": plane.ledger_table, "queueName": f"soundbite-{environment}-jobs",
        "dlqName": f"soundbite-{environment}-jobs-dlq",
        "ec2LoadBalancerArnSuffix": "app/ec2/1", "ec2TargetGroupArnSuffix": "targetgroup/ec2/1",
        "fargateLoadBalancerArnSuffix": "app/fargate/2", "fargateTargetGroupArnSuffix": "targetgroup/fargate/2",
        "ec2DirectName": f"ec2.{name}", "fargateDirectName": f"fargate.{name}",
        "ec2AsgName": f"soundbite-{environment}-ec2-api",
        "ec2WorkerAsgName": f"soundbite-{environment}-ec2-worker", "fargateClusterName": f"soundbite-{environment}-fargate",
        "fargateApiServiceName": "api",
        "stackCapacity": {"shiftSteps": [5, 25, 50, 100], "ec2": {"api": 4, "worker": 4},
                          "fargate": {"api": 4, "worker": 3}},
    }


def with_user_pool(em, outputs: dict) -> tuple[dict, str]:
    """The stack's user pool and its synthetic user on the emulator; the outputs naming the
    pool's app client, and the user's password (as the runbook's first deploy creates it)."""
    idp = em.client("cognito-idp")
    pool = cognito.create_pool(idp, em.endpoint, name=f"pool-{uuid.uuid4().hex[:6]}")
    password = cognito.ensure_user(idp, pool, synthetic_username(outputs["recordName"]))
    return {**outputs, "userPoolId": pool.pool_id, "userPoolClientId": pool.client_id}, password


def test_init_writes_a_validated_production_target_and_refuses_to_overwrite(aws_emulator, tmp_path):
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(deployed(aws_emulator)))
    target = tmp_path / "target.json"
    args = ("init", "--stack", "prod", "--outputs", str(outputs), "--out", str(target), "--region", "us-east-1")
    result = soundbite(*args, env=aws_emulator.env)
    assert result.returncode == ExitCode.OK, result.stderr
    assert "next: soundbite migrate doctor --config" in result.stdout
    written = load_target(str(target))
    assert (written.stack, written.metrics, written.region) == ("prod", "alb", "us-east-1")
    assert set(written.load_balancers) == {"ec2", "fargate"}
    assert written.direct_urls["fargate"].startswith("https://fargate.")
    assert written.worker_asg_name.endswith("-ec2-worker")
    assert (written.capacity["ec2"], written.capacity["fargate"]) == ({"api": 4, "worker": 4},
                                                                     {"api": 4, "worker": 3})
    again = soundbite(*args, env=aws_emulator.env)
    assert again.returncode == ExitCode.USAGE and "--force" in again.stderr


def test_init_names_every_missing_output(aws_emulator, tmp_path):
    outputs = tmp_path / "outputs.json"
    partial = {k: v for k, v in deployed(aws_emulator).items() if not k.startswith("fargate")}
    outputs.write_text(json.dumps(partial))
    result = soundbite("init", "--stack", "prod", "--outputs", str(outputs), "--out", str(tmp_path / "t.json"),
                       env=aws_emulator.env)
    assert result.returncode == ExitCode.USAGE
    assert "fargateLoadBalancerArnSuffix" in result.stderr and "fargateApiServiceName" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "t.json").exists()


def write_target(em, tmp_path) -> Path:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(deployed(em)))
    target = tmp_path / "target.json"
    soundbite("init", "--stack", "prod", "--outputs", str(outputs), "--out", str(target),
              "--region", "us-east-1", env=em.env)
    return target


def test_doctor_finds_what_is_missing_and_says_what_it_could_not_check(aws_emulator, tmp_path):
    target = write_target(aws_emulator, tmp_path)
    result = soundbite("doctor", "--config", str(target), "--json", env=aws_emulator.env)
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["region"]["ok"] and checks["identity"]["ok"] and checks["records"]["ok"]
    assert checks["ledger"]["ok"] and checks["queue"]["ok"] and checks["dlq"]["ok"] and checks["alarms"]["ok"]
    assert checks["ecs-service"]["ok"] is False and "not found" in checks["ecs-service"]["detail"].lower()
    assert checks["ec2-group"]["ok"] is False and "not found" in checks["ec2-group"]["detail"]
    assert result.returncode == ExitCode.REFUSED
    text = soundbite("doctor", "--config", str(target), env=aws_emulator.env).stdout
    assert "FAIL        ec2-group" in text and "{" not in text


def test_doctor_refuses_a_target_without_load_balancers_to_judge_on(aws_emulator, tmp_path):
    target = load_target(None, zone_id="Z1", record_name="api.example.com", environment="prod")
    session = boto3.session.Session(region_name="us-east-1", aws_access_key_id="testing",
                                    aws_secret_access_key="testing")
    finding = Doctor(target, session, environ={})._metrics_profile()
    assert finding.ok is False and "load_balancers and target_groups" in finding.detail


def test_doctor_simulates_the_operator_policy_and_names_each_missing_action(ministack, tmp_path):  # noqa: F811
    target = write_target(ministack, tmp_path)
    iam = ministack.client("iam")
    policy = json.loads(OPERATOR_POLICY.read_text())
    statements = [dict(st) for st in policy["Statement"]]
    statements[0]["Action"] = ["route53:ListResourceRecordSets"]  # cannot move the weights
    user = f"oncall-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=user)
    arn = iam.get_user(UserName=user)["User"]["Arn"]
    account = arn.split(":")[4]
    environment = load_target(str(target)).environment
    zone = load_target(str(target)).zone_id.split("/")[-1]
    text = json.dumps({"Version": "2012-10-17", "Statement": statements})
    for name, value in {"REGION": "us-east-1", "ACCOUNT": account, "ENV": environment,
                        "HOSTED_ZONE_ID": zone, "EC2_ASG_NAME": f"soundbite-{environment}-ec2-api",
                        "EC2_WORKER_ASG_NAME": f"soundbite-{environment}-ec2-worker"}.items():
        text = text.replace(f"<{name}>", value)
    iam.put_user_policy(UserName=user, PolicyName="operator", PolicyDocument=text)
    result = soundbite("doctor", "--config", str(target), "--principal", arn, "--json", env=ministack.env)
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["permissions"]["ok"] is False, checks["permissions"]
    assert "route53:ChangeResourceRecordSets" in checks["permissions"]["detail"]
    assert "dynamodb:" not in checks["permissions"]["detail"], "only what is missing"
    full = json.dumps(policy)
    for name, value in {"REGION": "us-east-1", "ACCOUNT": account, "ENV": environment,
                        "HOSTED_ZONE_ID": zone, "EC2_ASG_NAME": f"soundbite-{environment}-ec2-api",
                        "EC2_WORKER_ASG_NAME": f"soundbite-{environment}-ec2-worker"}.items():
        full = full.replace(f"<{name}>", value)
    iam.put_user_policy(UserName=user, PolicyName="operator", PolicyDocument=full)
    fixed = soundbite("doctor", "--config", str(target), "--principal", arn, "--json", env=ministack.env)
    assert {c["name"]: c for c in json.loads(fixed.stdout)["checks"]}["permissions"]["ok"] is True


def test_init_records_capacity_and_synthetic_auth_and_the_factory_uses_them(aws_emulator, tmp_path):
    """The README's path (`init --outputs`): prod's 4/4 reach the engine, not the 2/2 default,
    and validate gets transaction clients for both direct names."""
    from migration.factory import build_engine
    from migration.plan import quick_plan

    outputs, _ = with_user_pool(aws_emulator, deployed(aws_emulator))
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs))
    target = tmp_path / "target.json"
    result = soundbite("init", "--stack", "prod", "--outputs", str(path), "--out", str(target),
                       "--region", "us-east-1", env=aws_emulator.env)
    assert result.returncode == ExitCode.OK, result.stderr
    written = json.loads(target.read_text())
    assert written["synthetic_auth"] == {
        "client_id": outputs["userPoolClientId"], "username": f"soundbite-synthetic@{outputs['recordName']}",
        "password_env": SYNTHETIC_PASSWORD_ENV}
    assert "password" not in json.dumps({k: v for k, v in written["synthetic_auth"].items()
                                         if k != "password_env"})
    engine = build_engine(load_target(str(target)), quick_plan(),
                          session=boto3.session.Session(region_name="us-east-1"))
    assert (engine.ec2_capacity.api, engine.fargate_capacity.api, engine.fargate_capacity.worker) == (4, 4, 3)
    assert engine.capacity_problem is None and engine.stack_capacity.shift_steps == (5, 25, 50, 100)
    assert set(engine.direct_clients) == {"ec2", "fargate"}


def test_init_refuses_outputs_without_the_stacks_capacity(aws_emulator, tmp_path):
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({k: v for k, v in deployed(aws_emulator).items() if k != "stackCapacity"}))
    result = soundbite("init", "--stack", "prod", "--outputs", str(outputs), "--out", str(tmp_path / "t.json"),
                       env=aws_emulator.env)
    assert result.returncode == ExitCode.USAGE and "stackCapacity" in result.stderr
    assert not (tmp_path / "t.json").exists()


def test_preflight_and_doctor_fail_when_the_stacks_capacity_is_unknown(aws_emulator, boto_session, tmp_path):
    """A target that names the EC2 group and the ECS service but no capacity (written by hand,
    or by an older init): never the 2/2 default."""
    data = json.loads(write_target(aws_emulator, tmp_path).read_text())
    del data["capacity"]
    target = tmp_path / "no-capacity.json"
    target.write_text(json.dumps(data))
    doctor = soundbite("doctor", "--config", str(target), "--json", env=aws_emulator.env)
    capacity = {c["name"]: c for c in json.loads(doctor.stdout)["checks"]}["capacity"]
    assert capacity["ok"] is False and "capacity is unknown" in capacity["detail"]
    assert "--stack-file" in capacity["detail"] and "--pulumi-dir" in capacity["detail"]
    assert "migrate init --force" in capacity["detail"]
    from migration.factory import build_engine
    from migration.plan import default_plan
    from migration.preflight import preflight

    engine = build_engine(load_target(str(target)), default_plan(), session=boto_session)
    engine.health = {}  # the emulator has no such ECS service or group to count
    config = {c.name: c for c in preflight(engine)}["capacity-config"]
    assert config.ok is False and "capacity is unknown" in config.detail
    assert "plan-steps" not in {c.name for c in preflight(engine)}
    (tmp_path / "again").mkdir()
    recorded = soundbite("doctor", "--config", str(write_target(aws_emulator, tmp_path / "again")), "--json",
                         env=aws_emulator.env)
    assert {c["name"]: c for c in json.loads(recorded.stdout)["checks"]}["capacity"]["ok"] is True


def test_doctor_signs_the_synthetic_user_in_or_names_what_is_missing(aws_emulator, tmp_path):
    outputs, password = with_user_pool(aws_emulator, deployed(aws_emulator))
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs))
    target = tmp_path / "target.json"
    soundbite("init", "--stack", "prod", "--outputs", str(path), "--out", str(target),
              "--region", "us-east-1", env=aws_emulator.env)

    def synthetic(**env) -> dict:
        result = soundbite("doctor", "--config", str(target), "--json", env={**aws_emulator.env, **env})
        return {c["name"]: c for c in json.loads(result.stdout)["checks"]}["synthetic"]

    without = synthetic()
    assert without["ok"] is False and f"set {SYNTHETIC_PASSWORD_ENV}" in without["detail"]
    wrong = synthetic(**{SYNTHETIC_PASSWORD_ENV: "Wrong-password-1"})
    assert wrong["ok"] is False and "could not sign in" in wrong["detail"]
    signed = synthetic(**{SYNTHETIC_PASSWORD_ENV: password})
    assert signed["ok"] is True and "signed in" in signed["detail"], signed
    data = json.loads(target.read_text())
    del data["synthetic_auth"]
    target.write_text(json.dumps(data))
    none = synthetic(**{SYNTHETIC_PASSWORD_ENV: password})
    assert none["ok"] is False and "no transaction clients" in none["detail"]


def test_doctor_does_not_pass_permissions_it_could_not_check():
    ok = [Finding("region", True, "us-east-1"), Finding("identity", True, "arn")]
    assert passed([*ok, Finding("permissions", True, "all"), Finding("ecs-service", None, "none named")])
    assert not passed([*ok, Finding("permissions", None, "the IAM policy simulator did not answer")])
    assert not passed([*ok, Finding("permissions", False, "lacks route53:ChangeResourceRecordSets")])


def test_the_operator_policy_ships_in_the_package_as_the_runbook_gives_it():
    from importlib.resources import files

    shipped = files("migration").joinpath("policies/migration-operator-policy.json").read_text()
    assert json.loads(shipped) == json.loads((ROOT / "runbooks" / "migration-operator-policy.json").read_text())
    assert OPERATOR_POLICY.is_file()
    assert '"migration" = ["policies/*.json"]' in (ROOT / "pyproject.toml").read_text(), "in the wheel too"


def deployed_in_aws(em, tmp_path) -> tuple[Path, dict]:
    """A stack as the program leaves it in AWS, with no Pulumi outputs at hand: both load
    balancers behind the public name's weighted alias records, the EC2 groups tagged, the ECS
    service, the data plane and the user pool by their names; and its stack file."""
    import yaml

    environment = f"s{uuid.uuid4().hex[:8]}"
    bootstrap.bootstrap(em.endpoint, environment=environment)
    ec2, elbv2, route53 = em.client("ec2"), em.client("elbv2"), em.client("route53")
    subnets = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]][:2]
    vpc = ec2.describe_subnets(SubnetIds=subnets[:1])["Subnets"][0]["VpcId"]
    name = f"{environment}.example.com"
    record = f"api.{name}"
    zone_id = route53.create_hosted_zone(Name=name, CallerReference=uuid.uuid4().hex)["HostedZone"]["Id"]
    changes, expected = [], {}
    for lane in ("ec2", "fargate"):
        lb = elbv2.create_load_balancer(Name=f"{environment}-{lane}", Subnets=subnets,
                                        Type="application")["LoadBalancers"][0]
        tg = elbv2.create_target_group(Name=f"{environment}-{lane}-tg", Protocol="HTTP", Port=8080,
                                       VpcId=vpc, TargetType="ip")["TargetGroups"][0]
        elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                              DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}])
        expected[lane] = (lb["LoadBalancerArn"].split(":loadbalancer/")[1], tg["TargetGroupArn"].rsplit(":", 1)[1])
        changes.append({"Action": "CREATE", "ResourceRecordSet": {
            "Name": record, "Type": "A", "SetIdentifier": lane, "Weight": 100 if lane == "ec2" else 0,
            "AliasTarget": {"HostedZoneId": lb["CanonicalHostedZoneId"],
                            "DNSName": f"dualstack.{lb['DNSName']}.", "EvaluateTargetHealth": False}}})
    route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})
    image = ec2.describe_images()["Images"][0]["ImageId"]
    ec2.create_launch_template(LaunchTemplateName=f"lt-{environment}",
                               LaunchTemplateData={"ImageId": image, "InstanceType": "t3.micro"})
    autoscaling = em.client("autoscaling")
    for role in ("api", "worker"):
        autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=f"ec2-{role}-asg-{uuid.uuid4().hex[:6]}", MinSize=0, MaxSize=2, DesiredCapacity=0,
            LaunchTemplate={"LaunchTemplateName": f"lt-{environment}"}, VPCZoneIdentifier=subnets[0],
            Tags=[{"Key": k, "Value": v, "PropagateAtLaunch": True} for k, v in
                  {"Environment": environment, "Stack": "ec2", "Role": role}.items()])
    ecs = em.client("ecs")
    ecs.create_cluster(clusterName=f"soundbite-{environment}-fargate")
    ecs.register_task_definition(family=f"api-{environment}", containerDefinitions=[
        {"name": "api", "image": "soundbite:test", "memory": 512}])
    ecs.create_service(cluster=f"soundbite-{environment}-fargate", serviceName="api",
                       taskDefinition=f"api-{environment}", desiredCount=0)
    pool = cognito.create_pool(em.client("cognito-idp"), em.endpoint, name=f"soundbite-{environment}-users")
    config = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())
    config["config"].update({"soundbite:environment": environment, "soundbite:hostedZoneId": zone_id,
                             "soundbite:apiName": record})
    stack_file = tmp_path / "Pulumi.prod.yaml"
    stack_file.write_text(yaml.safe_dump(config))
    return stack_file, {"lanes": expected, "client_id": pool.client_id, "environment": environment}


def test_init_from_a_stack_file_finds_the_stack_in_aws(aws_emulator, tmp_path):
    """No Pulumi outputs at hand: the stack file plus AWS lookups give the same target file."""
    stack_file, expected = deployed_in_aws(aws_emulator, tmp_path)
    target = tmp_path / "target.json"
    result = soundbite("init", "--stack", "prod", "--stack-file", str(stack_file), "--out", str(target),
                       env=aws_emulator.env)
    assert result.returncode == ExitCode.OK, result.stderr
    written = load_target(str(target))
    assert written.region == "us-east-1" and written.environment == expected["environment"]
    for lane, (lb, tg) in expected["lanes"].items():
        assert (written.load_balancers[lane], written.target_groups[lane]) == (lb, tg), lane
    assert written.asg_name.startswith("ec2-api-asg-") and written.worker_asg_name.startswith("ec2-worker-asg-")
    assert (written.ecs_cluster, written.ecs_service) == (f"soundbite-{expected['environment']}-fargate", "api")
    assert written.synthetic_auth["client_id"] == expected["client_id"]
    assert written.capacity["fargate"] == {"api": 4, "worker": 4} and written.stack_file == str(stack_file)
    assert written.direct_urls["fargate"] == f"https://fargate.{written.record_name}"


def test_init_from_a_stack_file_names_what_aws_does_not_have(aws_emulator, tmp_path):
    stack_file, _ = deployed_in_aws(aws_emulator, tmp_path)
    aws_emulator.client("ecs").delete_service(cluster=f"soundbite-{_['environment']}-fargate", service="api",
                                              force=True)
    result = soundbite("init", "--stack", "prod", "--stack-file", str(stack_file),
                       "--out", str(tmp_path / "t.json"), env=aws_emulator.env)
    assert result.returncode == ExitCode.USAGE and "fargateClusterName" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "t.json").exists()
    other = soundbite("init", "--stack", "dev", "--stack-file", str(stack_file), "--out", str(tmp_path / "t.json"),
                      env=aws_emulator.env)
    assert other.returncode == ExitCode.USAGE and "is not Pulumi.dev.yaml" in other.stderr
