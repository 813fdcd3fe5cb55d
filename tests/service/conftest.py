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
        **overrides,
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
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return {"records": items, "jobs": sum(int(v) for v in attrs.values())}

    return count
