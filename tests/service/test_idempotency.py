"""Idempotent creates through the real app on the emulator: replay, conflict, release, scope."""

from __future__ import annotations

import json
import uuid

import pytest

from soundbite.core.idempotency.config import REPLAYED_HEADER
from tests.service.conftest import settings_for
from tests.service.test_api_core import assert_problem

BODY = {"text": "Say it once", "format": "wav"}


def post(client, body=None, key=None, user=None, **kwargs):
    headers = {"Idempotency-Key": key} if key is not None else {}
    if user:
        from tests.service.conftest import bearer

        headers.update(bearer(user))
    return client.post("/v1/soundbites", json=body or BODY, headers=headers, **kwargs)


# Fixed values: a collection-time uuid4() would differ between test processes.
@pytest.mark.parametrize("key", [None, "", "not-a-uuid", "123e4567-e89b-12d3-a456-426614174000",
                                 "9b2f6c1e-8a4d-4f5b-9c3e-2d1a0b9c8d7ex",  # v4 plus a character
                                 "970ad178-eb35-11f1-bc36-02fc00000001"])  # v1, not v4
def test_missing_or_malformed_key_is_a_400_that_says_so(client, written, key):
    body = assert_problem(post(client, key=key), 400)
    assert "Idempotency-Key" in body["detail"]
    assert body["errors"][0]["pointer"] == "/headers/Idempotency-Key"
    assert written() == {"records": 0, "jobs": 0}


def test_same_key_same_body_replays_exactly_and_writes_nothing_more(client, written):
    key = str(uuid.uuid4())
    first = post(client, key=key)
    assert first.status_code == 202 and REPLAYED_HEADER not in first.headers
    # Same JSON, different spacing and key order: still the same request.
    again = client.post("/v1/soundbites", data='{"format": "wav",   "text": "Say it once"}',
                        content_type="application/json", headers={"Idempotency-Key": key})
    assert again.status_code == 202
    assert again.headers[REPLAYED_HEADER] == "true"
    assert again.get_data() == first.get_data()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Content-Type"] == first.headers["Content-Type"]
    assert written() == {"records": 1, "jobs": 1}


def test_same_key_different_body_is_a_409_carrying_the_original(client, written):
    key = str(uuid.uuid4())
    first = post(client, key=key)
    conflict = post(client, {"text": "Something else"}, key=key)
    body = assert_problem(conflict, 409)
    assert body["type"].endswith("idempotency-key-reused")
    assert body["originalResponse"]["status"] == 202
    assert body["originalResponse"]["body"] == first.get_json()
    assert body["originalResponse"]["headers"]["Location"] == first.headers["Location"]
    assert written() == {"records": 1, "jobs": 1}


def test_a_request_in_flight_gets_409_with_retry_after(app, client, written):
    from service.api import context
    from soundbite.core.idempotency.handler import payload_hash, record_key
    from tests.service.conftest import sub

    key = str(uuid.uuid4())
    with app.app_context():
        store = context.idempotency_store()
        # Another instance took the key a moment ago and is still working on it.
        store.put_in_progress(record_key("soundbites.create", sub(), key),
                              payload_hash(json.dumps(BODY).encode()), lease_seconds=30)
    response = post(client, key=key)
    body = assert_problem(response, 409)
    assert body["type"].endswith("idempotency-in-progress")
    # The lease is stored in whole seconds, rounded up.
    assert 1 <= int(response.headers["Retry-After"]) <= 30 + 1
    assert written() == {"records": 0, "jobs": 0}


def test_a_5xx_releases_the_key_so_a_retry_runs(make_app, fresh_data_plane, written):
    broken = settings_for(fresh_data_plane).updated(
        {"queue_url": fresh_data_plane.queue_url + "-missing"})
    key = str(uuid.uuid4())
    assert_problem(post(make_app(settings=broken).test_client(), key=key), 503)
    assert written() == {"records": 0, "jobs": 0}
    retry = post(make_app().test_client(), key=key)
    assert retry.status_code == 202 and REPLAYED_HEADER not in retry.headers
    assert written() == {"records": 1, "jobs": 1}


def test_a_4xx_is_not_remembered_so_the_client_can_fix_its_body(client, written):
    key = str(uuid.uuid4())
    assert_problem(post(client, {"text": "hi", "voice": "klingon"}, key=key), 400)
    fixed = post(client, key=key)
    assert fixed.status_code == 202 and REPLAYED_HEADER not in fixed.headers
    assert written() == {"records": 1, "jobs": 1}


def test_keys_are_scoped_by_user(client, written):
    key = str(uuid.uuid4())
    alice = post(client, key=key, user="alice")
    bob = post(client, key=key, user="bob")
    assert alice.status_code == bob.status_code == 202
    assert REPLAYED_HEADER not in bob.headers
    assert alice.get_json()["id"] != bob.get_json()["id"]
    assert post(client, key=key, user="alice").get_json()["id"] == alice.get_json()["id"]
    assert written() == {"records": 2, "jobs": 2}


def test_another_instance_replays_from_the_shared_store(make_app, written):
    """Two apps (two stacks) with separate memory: the second replays what the first did."""
    key = str(uuid.uuid4())
    first = post(make_app().test_client(), key=key)
    replay = post(make_app().test_client(), key=key)
    assert replay.headers[REPLAYED_HEADER] == "true"
    assert replay.get_data() == first.get_data()
    assert written() == {"records": 1, "jobs": 1}


def test_completed_records_replay_from_the_process_cache(app, client, boto_session,
                                                         fresh_data_plane):
    key = str(uuid.uuid4())
    first = post(client, key=key)
    # Remove the shared record: this process still knows the answer without asking DynamoDB.
    ddb = boto_session.client("dynamodb")
    items = ddb.scan(TableName=fresh_data_plane.idempotency_table)["Items"]
    assert len(items) == 1 and items[0]["status"]["S"] == "COMPLETED"
    ddb.delete_item(TableName=fresh_data_plane.idempotency_table, Key={"id": items[0]["id"]})
    replay = post(client, key=key)
    assert replay.headers[REPLAYED_HEADER] == "true"
    assert replay.get_data() == first.get_data()


def test_store_unavailable_refuses_rather_than_risking_a_duplicate(make_app, fresh_data_plane,
                                                                  written):
    broken = settings_for(fresh_data_plane).updated({"idempotency_table": "no-such-table"})
    response = post(make_app(settings=broken).test_client(), key=str(uuid.uuid4()))
    body = assert_problem(response, 503)
    assert "Idempotency-Key" in body["detail"]
    assert response.headers["Retry-After"] == "1"
    assert written() == {"records": 0, "jobs": 0}


def test_stored_record_lives_for_the_configured_ttl(make_app, fresh_data_plane, boto_session):
    import time

    settings = settings_for(fresh_data_plane).updated({"idempotency_ttl_seconds": 3600})
    before = time.time()
    post(make_app(settings=settings).test_client(), key=str(uuid.uuid4()))
    item = boto_session.client("dynamodb").scan(
        TableName=fresh_data_plane.idempotency_table)["Items"][0]
    assert before + 3600 <= int(item["expiration"]["N"]) <= time.time() + 3601


def test_replays_and_conflicts_are_counted_in_metrics(metrics_lines):
    build, lines = metrics_lines
    client = build().test_client()
    key = str(uuid.uuid4())
    records, seen = [], 0
    for body in (BODY, BODY, {"text": "other"}):  # one interval per request
        post(client, body, key=key)
        everything = lines()
        records += [r for r in everything[seen:] if "RequestLatency" in r]
        seen = len(everything)
    assert [r.get("IdempotencyReplay") for r in records] == [None, 1, None]
    assert [r.get("IdempotencyConflict") for r in records] == [None, None, 1]
    created = [r for r in lines() if "SoundbitesCreated" in r]
    assert len(created) == 1
    assert created[0]["Voice"] == "en-us" and created[0]["TextLength"] == len(BODY["text"])
    dims = created[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]
    assert {"Environment", "Backend", "Voice"} <= set(dims)
