"""Issue 16's infrastructure: both stacks' APIs verify tokens from the program's Cognito user
pool, read one cursor secret from Secrets Manager (never in plain config), trust the ALB's
one proxy hop, and both stacks' workers share the Redis that caps syntheses."""

import base64
import dataclasses
import json
import re

import pytest

from infra import config
from service.api import auth
from soundbite.core.config import Settings
from tests.infra.pulumi_mocks import BASE_CONFIG, REGION, program_for

ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/auth-pool-id"  # mocks: id = "<name>-id"
JWKS = "https://cognito-idp.us-east-1.amazonaws.com/auth-pool-id/.well-known/jwks.json"
CLIENT_ID = "auth-client-id"
PROD = {"environment": "prod", "apiName": "api.example.com"}
FETCHED = "f" * 64  # what Secrets Manager would return at boot


@pytest.fixture(scope="module")
def run():
    return program_for("shift-25", **PROD)


def _task(run, role: str) -> dict:
    [task] = [r for r in run.mocks.of_type("aws:ecs/taskDefinition:TaskDefinition")
              if r.name == f"fargate-{role}-task"]
    [container] = json.loads(task.inputs["containerDefinitions"])
    return container


def _fargate_env(run, role: str) -> dict[str, str]:
    return {e["name"]: e["value"] for e in _task(run, role)["environment"]}


def _user_data(run, role: str) -> str:
    template = run.mocks.named(f"ec2-{role}-lt")
    return base64.b64decode(template.inputs["userData"]).decode()


def _ec2_env(run, role: str) -> dict[str, str]:
    body = re.search(r"<<'SOUNDBITE_ENV'\n(.*?)\nSOUNDBITE_ENV\n", _user_data(run, role), re.S)
    return dict(line.split("=", 1) for line in body.group(1).splitlines())


def _secret_arn(run) -> str:
    [secret] = run.mocks.of_type("aws:secretsmanager/secret:Secret")
    assert secret.inputs["name"] == "soundbite-prod/cursor-secret"
    return run.exports["cursorSecretArn"]


@pytest.mark.parametrize("stack", ["ec2", "fargate"])
def test_both_stacks_apis_verify_tokens_from_the_programs_user_pool(run, stack):
    env = _ec2_env(run, "api") if stack == "ec2" else _fargate_env(run, "api")
    assert env["SOUNDBITE_AUTH_ISSUER"] == ISSUER == run.exports["authIssuer"]
    assert env["SOUNDBITE_AUTH_JWKS_URL"] == JWKS
    assert env["SOUNDBITE_AUTH_AUDIENCE"] == CLIENT_ID == run.exports["userPoolClientId"]
    assert env["SOUNDBITE_TRUSTED_PROXIES"] == "1"
    assert "SOUNDBITE_AUTH" not in env  # authentication stays on (the runtime's default)


@pytest.mark.parametrize("stack", ["ec2", "fargate"])
def test_the_api_starts_with_what_each_stack_gives_it(run, stack):
    """The runtime's own checks (soundbite/core/config.py, service/api/auth.py) accept the variables."""
    env = _ec2_env(run, "api") if stack == "ec2" else _fargate_env(run, "api")
    secret_names = ({"SOUNDBITE_CURSOR_SECRET"} if stack == "ec2" else
                    {s["name"] for s in _task(run, "api")["secrets"]})
    known = {f"SOUNDBITE_{f.name.upper()}" for f in dataclasses.fields(Settings)}
    assert {k for k in env if k.startswith("SOUNDBITE_")} | secret_names <= known
    settings = Settings.from_env({**env, **dict.fromkeys(secret_names, FETCHED)})
    auth.check_settings(settings)
    assert settings.environment == "prod" and settings.auth_required
    assert settings.api_cursor_secret() == FETCHED
    assert settings.trusted_proxies == 1


def test_the_user_pool_has_a_public_app_client_and_prod_cannot_be_deleted(run):
    [pool] = run.mocks.of_type("aws:cognito/userPool:UserPool")
    [client] = run.mocks.of_type("aws:cognito/userPoolClient:UserPoolClient")
    assert pool.inputs["deletionProtection"] == "ACTIVE"
    assert client.inputs["userPoolId"] == "auth-pool-id"
    assert client.inputs["generateSecret"] is False
    assert "ALLOW_USER_SRP_AUTH" in client.inputs["explicitAuthFlows"]  # the page
    [dev_pool] = program_for("shift-25").mocks.of_type("aws:cognito/userPool:UserPool")
    assert dev_pool.inputs["deletionProtection"] == "INACTIVE"


def test_one_cursor_secret_reaches_both_apis_and_never_sits_in_plain_config(run):
    arn = _secret_arn(run)
    [version] = run.mocks.of_type("aws:secretsmanager/secretVersion:SecretVersion")
    wrapped = version.inputs["secretString"]
    assert wrapped.get("4dabf18193072939515e22adb298388d") == "1b47061264138c4ac30d75fd1eb44270", (
        "the value must be a Pulumi secret (encrypted in the state)")
    value = wrapped["value"]
    assert re.fullmatch(r"[0-9a-f]{64}", value)
    assert run.options[version.name].ignore_changes == ["secretString"]  # a rotation stays
    assert _task(run, "api")["secrets"] == [{"name": "SOUNDBITE_CURSOR_SECRET", "valueFrom": arn}]
    assert "secrets" not in _task(run, "worker")
    api_script = _user_data(run, "api")
    assert f"--secret-id {arn} " in api_script
    assert "secretsmanager" not in _user_data(run, "worker")
    for stack, env in (("ec2", _ec2_env(run, "api")), ("fargate", _fargate_env(run, "api"))):
        assert "SOUNDBITE_CURSOR_SECRET" not in env, stack
    plain = [r for r in run.mocks.resources if r.name != version.name]
    assert not [r.name for r in plain if value in json.dumps(r.inputs)
                or value in _decoded(r.inputs.get("userData"))]


def _decoded(user_data) -> str:
    return base64.b64decode(user_data).decode() if isinstance(user_data, str) else ""


def test_only_what_starts_an_api_may_read_the_secret_and_only_that_secret(run):
    arn = _secret_arn(run)
    readers = {}
    for policy in run.mocks.of_type("aws:iam/rolePolicy:RolePolicy"):
        for st in json.loads(policy.inputs["policy"])["Statement"]:
            if any(a.startswith("secretsmanager:") for a in st["Action"]):
                readers[policy.name] = (st["Action"], st["Resource"])
    assert readers == {
        "ec2-roles-api-policy": (["secretsmanager:GetSecretValue"], [arn]),
        "fargate-roles-execution-policy": (["secretsmanager:GetSecretValue"], [arn]),
    }


def test_redis_is_on_by_default_outside_local_environments_and_every_worker_gets_it(run):
    url = run.exports["redisUrl"]
    assert url.startswith("rediss://")
    for role in ("api", "worker"):
        assert _ec2_env(run, role)["SOUNDBITE_REDIS_URL"] == url
        assert _fargate_env(run, role)["SOUNDBITE_REDIS_URL"] == url
    assert config.from_values({**BASE_CONFIG, **PROD}, REGION).redis is True
    assert config.from_values({**BASE_CONFIG, "environment": "staging"}, REGION).redis is True
    assert config.from_values(BASE_CONFIG, REGION).redis is True  # dev: a stack in AWS too
    with pytest.raises(config.ConfigError, match="names a developer's machine"):
        config.from_values({**BASE_CONFIG, "environment": "local"}, REGION)  # no shortcuts in AWS


def test_redis_cannot_be_turned_off_where_the_synthesis_cap_depends_on_it():
    with pytest.raises(config.ConfigError, match="redis must stay on in 'prod'.*10 syntheses"):
        config.from_values({**BASE_CONFIG, **PROD, "redis": "false"}, REGION)
    with pytest.raises(config.ConfigError, match="redis must stay on in 'dev'"):
        config.from_values({**BASE_CONFIG, "redis": "false"}, REGION)


def test_init_on_the_programs_outputs_signs_the_synthetic_user_in_through_the_apis_client():
    """`migrate init` on what the program exports: the synthetic user signs in through the one
    app client the APIs accept (their audience), with the flow `CognitoPasswordToken` uses, and
    the stack's own capacities (prod: 4/4 here) are recorded, not the engine's 2/2 default."""
    import inspect

    from migration import synthetic
    from migration.init import target_from_outputs
    from migration.target import Target

    counts = {"ec2ApiCount": "4", "ec2WorkerCount": "4", "fargateApiCount": "4", "fargateWorkerCount": "3"}
    run = program_for("shift-25", **PROD, **counts)
    data = target_from_outputs(run.exports, "prod", REGION)
    auth = data["synthetic_auth"]
    assert auth["client_id"] == CLIENT_ID == _fargate_env(run, "api")["SOUNDBITE_AUTH_AUDIENCE"]
    assert auth["username"] == "soundbite-synthetic@api.example.com"
    assert auth["password_env"] == synthetic.SYNTHETIC_PASSWORD_ENV and "password" not in auth
    [client] = run.mocks.of_type("aws:cognito/userPoolClient:UserPoolClient")
    flow = re.search(r'AuthFlow="([A-Z_]+)"', inspect.getsource(synthetic.CognitoPasswordToken)).group(1)
    assert f"ALLOW_{flow}" in client.inputs["explicitAuthFlows"]
    capacity = Target(**data).recorded_capacity
    assert (capacity.ec2.api, capacity.ec2.worker, capacity.fargate.api, capacity.fargate.worker) == (4, 4, 4, 3)
    assert capacity.shift_steps == (5, 25, 50, 100)
    assert run.exports["fargateApiCount"] == 1  # the phase's count (shift-25), not the capacity
