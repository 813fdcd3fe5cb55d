"""The API core against a real moto server: create, read, list, audio, and every bad input."""

from __future__ import annotations

import json
import uuid

import pytest

from soundbite import spec

PROBLEM_FIELDS = {"type", "title", "status", "detail", "instance", "timestamp", "correlationId"}


def create(client, body=None, user=None, **kwargs):
    from tests.service.conftest import bearer

    headers = {"Idempotency-Key": str(uuid.uuid4())}
    if user:
        headers.update(bearer(user))
    headers.update(kwargs.pop("headers", {}))
    return client.post("/v1/soundbites", json=body or {"text": "Hello there"}, headers=headers, **kwargs)


def assert_problem(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert set(body) >= PROBLEM_FIELDS
    assert body["status"] == status
    assert "Traceback" not in response.get_data(as_text=True)
    return body


def test_create_answers_202_with_location_and_get_shows_pending(client, written):
    response = create(client, {"text": "Hello there", "voice": spec.DEFAULT_VOICE, "format": "wav"})
    assert response.status_code == 202
    body = response.get_json()
    assert body["status"] == "pending"
    assert body["text_length"] == len("Hello there")
    assert response.headers["Location"] == f"/v1/soundbites/{body['id']}"
    fetched = client.get(response.headers["Location"])
    assert fetched.status_code == 200
    assert fetched.get_json() == body
    assert written() == {"records": 1, "jobs": 1}


def test_defaults_apply_when_voice_and_format_are_omitted(client):
    body = create(client, {"text": "Defaults please"}).get_json()
    assert (body["voice"], body["format"]) == (spec.DEFAULT_VOICE, spec.DEFAULT_FORMAT)


BAD_BODIES = [
    ("{not json", "application/json", 400, ""),
    ('["a list"]', "application/json", 400, ""),
    ("{}", "application/json", 400, "/text"),
    ('{"text": "   "}', "application/json", 400, "/text"),
    (json.dumps({"text": "x" * (spec.TEXT_MAX_CHARS + 1)}), "application/json", 400, "/text"),
    ('{"text": "hi", "voice": "klingon"}', "application/json", 400, "/voice"),
    ('{"text": "hi", "format": "flac"}', "application/json", 400, "/format"),
    ('{"text": "hi", "extra": 1}', "application/json", 400, "/extra"),
    ('{"text": 42}', "application/json", 400, "/text"),
    (b'{"text": "\xff\xfe"}', "application/json", 400, ""),
    # Control characters (engines read some as commands) and lone surrogates (unencodable).
    ('{"text": "\\u00010A hi"}', "application/json", 400, "/text"),
    ('{"text": "hello \\ud800 world"}', "application/json", 400, "/text"),
    ('{"text": "bell\\u0007 and del\\u007f"}', "application/json", 400, "/text"),
    ('{"text": "c1 \\u0085 control"}', "application/json", 400, "/text"),
    ("text=hi", "application/x-www-form-urlencoded", 415, None),
    ("hi", "text/plain", 415, None),
]


@pytest.mark.parametrize(("data", "ctype", "status", "pointer"), BAD_BODIES)
def test_bad_bodies_get_a_problem_and_write_nothing(client, written, data, ctype, status, pointer):
    response = client.post("/v1/soundbites", data=data, content_type=ctype,
                           headers={"Idempotency-Key": str(uuid.uuid4())})
    body = assert_problem(response, status)
    if pointer is not None:
        assert pointer in [e["pointer"] for e in body["errors"]]
        assert all(e["detail"] for e in body["errors"])
    assert written() == {"records": 0, "jobs": 0}


def test_tabs_newlines_and_surrogate_pairs_are_text(client):
    response = create(client, {"text": "line one\n\tline two\r\nwith an emoji \U0001F600"})
    assert response.status_code == 202, response.get_data(as_text=True)


def test_all_field_errors_are_reported_at_once(client):
    response = client.post("/v1/soundbites", json={"voice": "nope", "format": "flac"},
                           headers={"Idempotency-Key": str(uuid.uuid4())})
    pointers = {e["pointer"] for e in assert_problem(response, 400)["errors"]}
    assert pointers == {"/text", "/voice", "/format"}


def test_a_body_over_64_kib_is_refused_with_413(client, written):
    data = json.dumps({"text": "a" * (spec.BODY_MAX_BYTES + 10)})
    response = client.post("/v1/soundbites", data=data, content_type="application/json",
                           headers={"Idempotency-Key": str(uuid.uuid4())})
    assert_problem(response, 413)
    assert written() == {"records": 0, "jobs": 0}


def test_unknown_and_malformed_ids(client):
    assert_problem(client.get(f"/v1/soundbites/{uuid.uuid4().hex}"), 404)
    body = assert_problem(client.get("/v1/soundbites/not-an-id"), 400)
    assert body["errors"][0]["pointer"] == "/id"
    assert_problem(client.get("/v1/soundbites/../../etc/passwd"), 404)


def test_unknown_route_and_method_are_problems(client):
    assert_problem(client.get("/v2/nothing"), 404)
    response = client.delete("/v1/voices")
    assert_problem(response, 405)
    assert "GET" in response.headers["Allow"]


def test_audio_redirects_only_when_ready(client, repo, fresh_data_plane, boto_session):
    soundbite_id = create(client).get_json()["id"]
    body = assert_problem(client.get(f"/v1/soundbites/{soundbite_id}/audio"), 409)
    assert body["soundbiteStatus"] == "pending"
    key = f"audio/{fresh_data_plane.environment}/{soundbite_id}.wav"
    boto_session.client("s3").put_object(Bucket=fresh_data_plane.bucket, Key=key, Body=b"RIFF")
    repo.mark_processing(soundbite_id)
    repo.mark_ready(soundbite_id, key, 4, 0.5)
    response = client.get(f"/v1/soundbites/{soundbite_id}/audio")
    assert response.status_code == 302
    assert key in response.headers["Location"]
    ready = client.get(f"/v1/soundbites/{soundbite_id}").get_json()
    assert ready["status"] == "ready" and key in ready["audio_url"]
    assert ready["duration_seconds"] == 0.5
    # Presigned links must not be kept by any cache.
    assert response.headers["Cache-Control"] == "no-store"
    assert client.get(f"/v1/soundbites/{soundbite_id}").headers["Cache-Control"] == "no-store"


def test_list_is_newest_first_and_pages_with_a_cursor(client):
    ids = [create(client, {"text": f"number {i}"}, user="alice").get_json()["id"] for i in range(5)]
    create(client, {"text": "someone else"}, user="bob")
    seen, cursor = [], None
    while True:
        query = "/v1/soundbites?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(query).get_json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))
    assert client.get("/v1/soundbites").headers["Cache-Control"] == "no-store"


def test_tampered_or_foreign_cursors_are_refused(client):
    for i in range(3):
        create(client, {"text": f"n{i}"}, user="alice")
    from tests.service.conftest import bearer

    cursor = client.get("/v1/soundbites?limit=1").get_json()["next_cursor"]
    assert cursor
    assert_problem(client.get(f"/v1/soundbites?limit=1&cursor={cursor}", headers=bearer("mallory")), 400)
    tampered = cursor[:-3] + ("AAA" if not cursor.endswith("AAA") else "BBB")
    body = assert_problem(client.get(f"/v1/soundbites?cursor={tampered}"), 400)
    assert body["errors"][0]["pointer"] == "/cursor"
    assert_problem(client.get("/v1/soundbites?cursor=%%%"), 400)


def _b64(raw: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("token", [
    b'{"d": 5, "s": "x"}', b'{"d": "x", "s": 5}', b'["d", "s"]', b"7", b"[" * 3000,
    b'{"d": "' + b"x" * 9000 + b'", "s": "y"}',
])
def test_a_forged_cursor_of_any_shape_is_a_400_not_a_500(client, token):
    body = assert_problem(client.get(f"/v1/soundbites?cursor={_b64(token)}"), 400)
    assert body["errors"][0]["pointer"] == "/cursor"


@pytest.mark.parametrize("position", [
    {"pk": 5}, {"pk": "x", "sk": "y", "userId": "alice", "environmentCreatedAt": ""},
    {"pk": "x", "sk": "y", "userId": "alice", "environmentCreatedAt": "z", "more": "w"},
    {"pk": {"S": "x"}, "sk": "y", "userId": "alice", "environmentCreatedAt": "z"}, [], "text",
])
def test_a_signed_cursor_with_a_malformed_position_is_a_400(client, app, position):
    """Signed with the real secret (as a leaked or default one would be), yet not our shape."""
    from service.api import context
    from tests.service.conftest import sub

    with app.app_context():
        cursor = context.cursors().encode(position, sub("alice"))
    body = assert_problem(client.get(f"/v1/soundbites?cursor={cursor}"), 400)
    assert body["errors"][0]["pointer"] == "/cursor"


def test_storage_validation_errors_are_client_errors(repo):
    """DynamoDB's ValidationException is the values' fault: a 400, not a 503 to retry."""
    from soundbite.core.exceptions import DependencyUnavailable, InvalidRequest, StorageRejected

    with pytest.raises(StorageRejected) as refused:
        repo._call("get_item", Key={"pk": {"S": "only-half-a-key"}})
    assert isinstance(refused.value, InvalidRequest)
    assert not isinstance(refused.value, DependencyUnavailable)


def test_a_record_the_store_would_refuse_is_refused_before_the_job_is_queued(repo):
    from soundbite.core.domain import CreateRequest, new_soundbite
    from soundbite.core.exceptions import StorageRejected

    unencodable = new_soundbite(CreateRequest("a \ud800 b", "en-us", "wav"), "t", "alice")
    with pytest.raises(StorageRejected):
        repo.check(unencodable)
    repo.check(new_soundbite(CreateRequest("fine", "en-us", "wav"), "t", "alice"))


@pytest.mark.parametrize("limit", ["0", "101", "-1", "ten", "1e3", "%C2%B2", "%D9%A3", "1" * 4301, "0" * 4300 + "5"])
def test_limit_out_of_range_is_refused(client, limit):
    body = assert_problem(client.get(f"/v1/soundbites?limit={limit}"), 400)
    assert body["errors"][0]["pointer"] == "/limit"


def test_list_requires_a_user(client):
    assert_problem(client.get("/v1/soundbites", headers={"Authorization": ""}), 401)


def test_queue_failure_fails_the_request_and_leaves_no_pending_record(make_app, written,
                                                                      fresh_data_plane):
    from tests.service.conftest import settings_for

    broken = settings_for(fresh_data_plane).updated(
        {"queue_url": fresh_data_plane.queue_url + "-missing"})
    client = make_app(settings=broken).test_client()
    body = assert_problem(create(client), 503)
    assert "Retry-After" in client.post("/v1/soundbites", json={"text": "x"}, headers={
        "Idempotency-Key": str(uuid.uuid4())}).headers
    assert "Idempotency-Key" in body["detail"]
    assert written() == {"records": 0, "jobs": 0}


def test_a_failed_write_after_queueing_leaves_no_record_and_an_orphan_job(make_app, written,
                                                                          fresh_data_plane):
    from tests.service.conftest import settings_for

    broken = settings_for(fresh_data_plane).updated({"table": "no-such-table"})
    assert_problem(create(make_app(settings=broken).test_client()), 503)
    # The job went first; without its record the worker drops it once past the grace period.
    assert written() == {"records": 0, "jobs": 1}


def test_correlation_id_is_echoed_or_generated(client):
    assert client.get("/healthz", headers={"X-Correlation-Id": "abc-123"}).headers[
        "X-Correlation-Id"] == "abc-123"
    generated = client.get("/healthz", headers={"X-Correlation-Id": "bad value;<script>"}).headers[
        "X-Correlation-Id"]
    assert len(generated) == 32
    problem = client.get("/v1/soundbites/nope", headers={"X-Correlation-Id": "trace-9"}).get_json()
    assert problem["correlationId"] == "trace-9"


def test_voices_come_from_the_synthesizer(client, app):
    body = client.get("/v1/voices").get_json()
    from service.api import context

    with app.app_context():
        expected = {v.id for v in context.catalog().voices()}
    assert {v["id"] for v in body["voices"]} == expected
    assert spec.DEFAULT_VOICE in expected
    assert spec.DEFAULT_FORMAT in body["formats"]


def test_a_flood_of_readiness_checks_is_not_a_flood_of_aws_calls(client, monkeypatch):
    """/readyz is public and never rate-limited (health checks): its answer is reused for a
    moment, so a flood of it cannot become three AWS calls per request."""
    from service.api import context, meta

    with client.application.app_context():
        events = context.repository().client.meta.events
    calls = []

    def count(**_):
        calls.append(1)

    events.register("before-call.dynamodb.DescribeTable", count)
    try:
        for _ in range(20):
            assert client.get("/readyz").status_code == 200
        assert len(calls) == 1
        monkeypatch.setattr(meta, "READINESS_CACHE_SECONDS", 0.0)
        client.get("/readyz")
        assert len(calls) == 2, "a stale answer is probed again"
    finally:
        events.unregister("before-call.dynamodb.DescribeTable", count)


def test_readiness_reports_each_dependency(client, make_app, fresh_data_plane):
    assert client.get("/readyz").get_json()["checks"] == {"dynamodb": "ok", "sqs": "ok", "s3": "ok"}
    from tests.service.conftest import settings_for

    broken = settings_for(fresh_data_plane).updated({"table": "no-such-table"})
    response = make_app(settings=broken).test_client().get("/readyz")
    body = assert_problem(response, 503)
    assert body["checks"]["dynamodb"].startswith("unavailable")
    assert body["checks"]["sqs"] == "ok"
