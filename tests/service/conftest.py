"""Fixtures for the API: the real app on the emulator's data plane, with the real synthesizer."""

from __future__ import annotations

import pytest

from service.api import create_app
from service.config import Settings
from service.repository import SoundbiteRepository


def settings_for(data_plane, **overrides) -> Settings:
    return Settings(
        environment=data_plane.environment,
        table=data_plane.soundbites_table,
        idempotency_table=data_plane.idempotency_table,
        bucket=data_plane.bucket,
        queue_url=data_plane.queue_url,
        dlq_url=data_plane.dlq_url,
        force_https=False,
        **{"trusted_proxies": 1, **overrides},  # as behind the ALB: tests speak as its hop
    )


@pytest.fixture
def make_app(fresh_data_plane):
    def build(**config):
        settings = config.pop("settings", None) or settings_for(fresh_data_plane)
        return create_app({"settings": settings, **config})

    return build


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
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


class ThrowawayRedis:
    """A redis-server of this test's own, so it can be stopped without touching the shared one."""

    def __init__(self) -> None:
        from infra.local.emulator import free_port

        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self) -> None:
        import shutil
        import subprocess
        import time

        import redis

        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                client.ping()
                return
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.port} did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        self.process = None

    def client(self):
        import redis

        return redis.Redis(port=self.port, socket_connect_timeout=0.5)


@pytest.fixture
def throwaway_redis():
    server = ThrowawayRedis()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def metrics_lines(make_app):
    """An app whose EMF lines are captured: returns (build_app, lines())."""
    import io
    import json

    from service.metrics import MetricsEmitter

    stream = io.StringIO()

    def build(**config):
        settings = config.pop("settings", None)
        app = make_app(**({"settings": settings} if settings else {}), **config)
        settings = app.extensions["soundbite"]["settings"]
        app.extensions["soundbite"]["metrics"] = MetricsEmitter(
            settings.environment, settings.backend, stream=stream)
        return app

    def lines() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines() if line]

    return build, lines


@pytest.fixture
def api_server(fresh_data_plane, moto_server):
    """Start real gunicorn API processes on the emulator's data plane: `start(backend, **env)`."""
    import os

    from infra.local.emulator import free_port
    from infra.local.stack import Lane

    lanes = []

    def start(backend: str = "ec2", **env: str) -> Lane:
        port = free_port()
        lane_env = {
            **os.environ, **moto_server.env, **fresh_data_plane.service_env(),
            "SOUNDBITE_BACKEND": backend, "SOUNDBITE_BIND": f"127.0.0.1:{port}",
            "SOUNDBITE_FORCE_HTTPS": "false", "SOUNDBITE_WEB_WORKERS": "1",
            "PYTHONUNBUFFERED": "1", **env,
        }
        lane = Lane(backend, port, lane_env, None)
        lanes.append(lane)
        lane.start_api()
        return lane

    yield start
    for lane in lanes:
        lane.stop()
