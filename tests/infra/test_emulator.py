"""The emulator interface on both emulators, and what MiniStack plays that moto cannot:
Cognito tokens its JWKS verifies, Route 53 changes that answer PENDING before INSYNC, and ECS
services that count their own tasks."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
import uuid

import psutil
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from infra.local import bootstrap, emulator
from migration import dns_setup
from migration.exceptions import RouterError
from migration.health import EcsServiceHealth
from migration.router import Route53WeightedRouter
from tests.waiting import wait_for


@pytest.fixture(scope="module")
def ministack(aws_emulator, tmp_path_factory):
    """The session's emulator when it is MiniStack, else one of this module's own."""
    if aws_emulator.kind == emulator.MINISTACK:
        yield aws_emulator
        return
    log = tmp_path_factory.mktemp("ministack") / "emulator.log"
    with emulator.running(log_path=str(log), kind=emulator.MINISTACK) as em:
        yield em


# --- the interface, on both emulators ------------------------------------------------------------


def test_the_switch_selects_an_emulator_and_refuses_an_unknown_one(monkeypatch):
    monkeypatch.setenv(emulator.SELECT_VARIABLE, "MiniStack")
    assert emulator.selected() == emulator.MINISTACK
    assert emulator.selected("moto") == emulator.MOTO
    monkeypatch.setenv(emulator.SELECT_VARIABLE, "localstack")
    with pytest.raises(emulator.EmulatorError, match="moto, ministack"):
        emulator.selected()


@pytest.mark.parametrize("kind", emulator.KINDS)
def test_each_emulator_listens_on_loopback_only_resets_and_stops(kind, tmp_path):
    em = emulator.start(kind=kind, log_path=str(tmp_path / "emulator.log"))
    try:
        assert em.kind == kind and em.ready()
        listening = {c.laddr for p in [psutil.Process(em.process.pid),
                                       *psutil.Process(em.process.pid).children(recursive=True)]
                     for c in p.net_connections("inet") if c.status == psutil.CONN_LISTEN}
        assert listening and {addr.ip for addr in listening} == {"127.0.0.1"}, listening
        plane = bootstrap.bootstrap(em.endpoint, environment="reset")
        ddb = em.client("dynamodb")
        assert plane.soundbites_table in ddb.list_tables()["TableNames"]
        em.reset()
        assert ddb.list_tables()["TableNames"] == []
        assert em.ready()
    finally:
        em.stop()
    assert not em.alive()
    with pytest.raises(urllib.error.URLError) as stopped:
        urllib.request.urlopen(em.endpoint + em.flavour.ready_path, timeout=2)
    assert not isinstance(stopped.value, urllib.error.HTTPError)


# --- Cognito: tokens the pool's JWKS verifies ----------------------------------------------------


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verify_rs256(token: str, jwks: dict) -> dict:
    """The token's claims if its RS256 signature verifies with the JWKS key of its `kid`."""
    header_b64, claims_b64, signature_b64 = token.split(".")
    header = json.loads(_b64(header_b64))
    assert header["alg"] == "RS256"
    (key,) = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    public = rsa.RSAPublicNumbers(int.from_bytes(_b64(key["e"]), "big"),
                                  int.from_bytes(_b64(key["n"]), "big")).public_key()
    public.verify(_b64(signature_b64), f"{header_b64}.{claims_b64}".encode(),
                  padding.PKCS1v15(), hashes.SHA256())  # raises InvalidSignature otherwise
    return json.loads(_b64(claims_b64))


def test_cognito_issues_tokens_that_its_jwks_verifies(ministack):
    from cryptography.exceptions import InvalidSignature

    idp = ministack.client("cognito-idp")
    pool = idp.create_user_pool(PoolName=f"p{uuid.uuid4().hex[:6]}")["UserPool"]["Id"]
    app = idp.create_user_pool_client(
        UserPoolId=pool, ClientName="api",
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    idp.admin_create_user(UserPoolId=pool, Username="ada@example.com",
                          TemporaryPassword="Temp-pass-1!", MessageAction="SUPPRESS")
    idp.admin_set_user_password(UserPoolId=pool, Username="ada@example.com",
                                Password="Real-pass-1!", Permanent=True)
    tokens = idp.initiate_auth(ClientId=app, AuthFlow="USER_PASSWORD_AUTH", AuthParameters={
        "USERNAME": "ada@example.com", "PASSWORD": "Real-pass-1!"})["AuthenticationResult"]
    with urllib.request.urlopen(f"{ministack.endpoint}/{pool}/.well-known/jwks.json") as rsp:
        jwks = json.loads(rsp.read())
    claims = verify_rs256(tokens["IdToken"], jwks)
    assert claims["aud"] == app and claims["token_use"] == "id"
    assert claims["iss"].endswith(pool)
    assert verify_rs256(tokens["AccessToken"], jwks)["client_id"] == app
    header, body, signature = tokens["AccessToken"].split(".")
    forged = base64.urlsafe_b64encode(json.dumps({**json.loads(_b64(body)), "client_id": "x"})
                                      .encode()).decode().rstrip("=")
    with pytest.raises(InvalidSignature):
        verify_rs256(f"{header}.{forged}.{signature}", jwks)


# --- Route 53: PENDING, then INSYNC ----------------------------------------------------------


def test_a_weight_change_is_pending_then_insync_through_the_router(ministack):
    route53 = ministack.client("route53")
    zone = f"r{uuid.uuid4().hex[:6]}.test"
    zone_id = dns_setup.create_weighted_zone(
        route53, zone, f"api.{zone}", {"ec2": f"ec2.{zone}", "fargate": f"fargate.{zone}"},
        {"ec2": 100, "fargate": 0})
    polls = []
    # The router polls every INSYNC_POLL_SECONDS; an injected sleep keeps the test short.
    router = Route53WeightedRouter(zone_id, f"api.{zone}", client=route53,
                                   sleep=lambda seconds: polls.append(seconds))
    router.set_weights({"ec2": 95, "fargate": 5})
    assert len(polls) >= 1  # it met PENDING and polled until INSYNC
    assert router.current() == {"ec2": 95, "fargate": 5}

    change = route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [
        {"Action": "UPSERT", "ResourceRecordSet": {**router.records()["ec2"], "Weight": 90}}]})
    assert change["ChangeInfo"]["Status"] == "PENDING"
    clock = [0.0]
    never_insync = Route53WeightedRouter(zone_id, f"api.{zone}", client=route53,
                                         now=lambda: clock[0], insync_timeout=10,
                                         sleep=lambda seconds: clock.__setitem__(0, 11.0))
    with pytest.raises(RouterError, match="not INSYNC after 10 s"):
        never_insync.wait_insync(change["ChangeInfo"]["Id"], "PENDING")


# --- ECS: the service's own task counts -------------------------------------------------------


def test_ecs_health_reads_the_services_own_running_count(ministack):
    ecs = ministack.client("ecs")
    cluster, family = f"c{uuid.uuid4().hex[:6]}", f"api-{uuid.uuid4().hex[:6]}"
    ecs.create_cluster(clusterName=cluster)
    ecs.register_task_definition(family=family, containerDefinitions=[
        {"name": "api", "image": "soundbite:test", "memory": 512}])
    ecs.create_service(cluster=cluster, serviceName="api", taskDefinition=family, desiredCount=2)
    health = EcsServiceHealth(cluster, "api", ecs)
    wait_for(lambda: health.running() == 2, what="both tasks running")
    assert health.problems() == []
    task = ecs.list_tasks(cluster=cluster, serviceName="api")["taskArns"][0]
    ecs.stop_task(cluster=cluster, task=task, reason="test")
    assert health.running() == 1
    assert health.problems() == ["ECS service api: 1 of 2 tasks running"]
