"""Fixtures for the API: the real app on the emulator's data plane, with the real catalog
(the core's, as soundbite/wsgi.py builds it)."""

from __future__ import annotations

import functools
import os
import threading

import pytest
from flask.testing import FlaskClient

from service.api import create_app
from soundbite.core.config import Settings
from soundbite.core.repository import SoundbiteRepository
from soundbite.core.synth.catalog import build_catalog

CURSOR_SECRET = "test-cursor-secret-0123456789abcdef0123456789"
DEFAULT_USER = "alice"


@functools.cache
def user_pool(endpoint: str):
    """One local user pool per emulator, created through the emulator's cognito-idp."""
    import boto3

    from infra.local import cognito
    from infra.local.emulator import aws_env

    env = aws_env(endpoint)
    client = boto3.session.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_DEFAULT_REGION"]).client("cognito-idp", endpoint_url=endpoint)
    return cognito.create_pool(client, endpoint), client


_TOKENS: dict[tuple, str] = {}
_TOKENS_LOCK = threading.Lock()


def token(user: str = DEFAULT_USER, kind: str = "IdToken", endpoint: str | None = None) -> str:
    """A real token of the emulator's pool for `user` (created on first use, once per
    process: threads asking at once wait for the one sign-in)."""
    from infra.local import cognito

    endpoint = endpoint or os.environ["AWS_ENDPOINT_URL"]
    with _TOKENS_LOCK:
        if (user, kind, endpoint) not in _TOKENS:
            pool, client = user_pool(endpoint)
            _TOKENS[(user, kind, endpoint)] = cognito.token_for(client, pool, user, kind)
        return _TOKENS[(user, kind, endpoint)]


def sub(user: str = DEFAULT_USER) -> str:
    """The user's id as the API sees it: the token's subject."""
    import jwt

    return jwt.decode(token(user), options={"verify_signature": False})["sub"]


def bearer(user: str = DEFAULT_USER, kind: str = "IdToken") -> dict[str, str]:
    return {"Authorization": f"Bearer {token(user, kind)}"}


def auth_env(endpoint: str | None = None) -> dict[str, str]:
    """The `SOUNDBITE_AUTH_*` and cursor-secret variables of a process that trusts the pool."""
    pool, _ = user_pool(endpoint or os.environ["AWS_ENDPOINT_URL"])
    return {**pool.service_env(), "SOUNDBITE_CURSOR_SECRET": CURSOR_SECRET}


def settings_for(data_plane, **overrides) -> Settings:
    pool, _ = user_pool(os.environ["AWS_ENDPOINT_URL"])
    overrides = {"auth_issuer": pool.issuer, "auth_jwks_url": pool.jwks_url,
                 "auth_audience": pool.client_id, "cursor_secret": CURSOR_SECRET,
                 "trusted_proxies": 1,  # as behind the ALB: tests speak as its hop
                 **overrides}
    return Settings(
        environment=data_plane.environment,
        table=data_plane.soundbites_table,
        idempotency_table=data_plane.idempotency_table,
        bucket=data_plane.bucket,
        queue_url=data_plane.queue_url,
        dlq_url=data_plane.dlq_url,
        force_https=False,
        **overrides,
    )


class SignedInClient(FlaskClient):
    """A test client that sends DEFAULT_USER's token unless a request sends its own."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.environ_base["HTTP_AUTHORIZATION"] = bearer()["Authorization"]


@pytest.fixture
def make_app(fresh_data_plane):
    def build(**config):
        settings = config.pop("settings", None) or settings_for(fresh_data_plane)
        config.setdefault("catalog", build_catalog(settings.updated(config).synthesizer))
        app = create_app({"settings": settings, **config})
        app.test_client_class = SignedInClient
        return app

    return build


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    """A client signed in as DEFAULT_USER (a request's own Authorization header wins)."""
    return app.test_client()


@pytest.fixture
def repo(fresh_data_plane):
    return SoundbiteRepository(fresh_data_plane.soundbites_table, fresh_data_plane.environment)


@pytest.fixture
def written(fresh_data_plane, boto_session):
    """What a request left behind: soundbite records and queued jobs in this data plane."""

    def count() -> dict:
        ddb = boto_session.client("dynamodb")
        items = ddb.scan(TableName=fresh_data_plane.soundbites_table, Select="COUNT")["Count"]
        sqs = boto_session.client("sqs")
        attrs = sqs.get_queue_attributes(
            QueueUrl=fresh_data_plane.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                            "ApproximateNumberOfMessagesDelayed"],
        )["Attributes"]
        return {"records": items, "jobs": sum(int(v) for v in attrs.values())}

    return count


# --- Redis, gunicorn and metrics fixtures for the API's protections -------------------------

SHARED_REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def redis_url():
    """The machine's real Redis; tests keep to their own key prefix (a fresh environment)."""
    import redis

    client = redis.Redis.from_url(SHARED_REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("no Redis server on 127.0.0.1:6379 (the CI script starts one)")
    finally:
        client.close()
    return SHARED_REDIS_URL


@pytest.fixture
def metrics_lines(make_app):
    """An app whose EMF lines are captured: returns (build_app, lines()). `lines()` first
    writes what the app buffered, so each call ends an interval: a record with latency holds
    the requests made since the previous call."""
    import io
    import json

    from soundbite.core.metrics import MetricsEmitter

    stream = io.StringIO()
    emitters = []

    def build(**config):
        settings = config.pop("settings", None)
        app = make_app(**({"settings": settings} if settings else {}), **config)
        settings = app.extensions["soundbite"]["settings"]
        emitter = MetricsEmitter(settings.environment, settings.backend, stream=stream)
        emitters.append(emitter)
        app.extensions["soundbite"]["metrics"] = emitter
        return app

    def lines() -> list[dict]:
        for emitter in emitters:
            emitter.flush()
        return [json.loads(line) for line in stream.getvalue().splitlines() if line]

    return build, lines


@pytest.fixture
def api_server(fresh_data_plane, aws_emulator):
    """Start real gunicorn API processes on the emulator's data plane: `start(backend, **env)`."""
    import os

    from infra.local.emulator import free_port
    from infra.local.stack import Lane

    lanes = []

    def start(backend: str = "ec2", **env: str) -> Lane:
        port = free_port()
        lane_env = {
            **os.environ, **aws_emulator.env, **fresh_data_plane.service_env(),
            "SOUNDBITE_BACKEND": backend, "SOUNDBITE_BIND": f"127.0.0.1:{port}",
            "SOUNDBITE_FORCE_HTTPS": "false", "SOUNDBITE_WEB_WORKERS": "1",
            "SOUNDBITE_TRUSTED_PROXIES": "1", **auth_env(aws_emulator.endpoint),
            "PYTHONUNBUFFERED": "1", **env,
        }
        lane = Lane(backend, port, lane_env, None)
        lanes.append(lane)
        lane.start_api()
        return lane

    yield start
    for lane in lanes:
        lane.stop()
