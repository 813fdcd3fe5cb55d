"""Chaos on the local stack: a frozen, a missing and a slow emulator, Redis going away, and a
worker killed under load. Real gunicorn and worker processes throughout.

A frozen emulator (SIGSTOP) is an unresponsive dependency: connections open, nothing answers,
so the clients' timeouts are what is tested. moto keeps its state only while it runs, so it
is paused rather than stopped.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from migration.rehearsal.load import LoadGenerator
from service.api.meta import READINESS_DEADLINE_SECONDS
from soundbite.core import aws
from tests.verify.conftest import DelayProxy, Recorder, freeze, thaw
from tests.waiting import wait_for

FREEZE_SECONDS = 8
CALL_BUDGET_SECONDS = aws.MAX_ATTEMPTS * (aws.READ_TIMEOUT_SECONDS + 1)
"""The longest one AWS call may take: every attempt times out, plus retry backoff."""
REQUEST_BUDGET_SECONDS = 2 * CALL_BUDGET_SECONDS + 5
"""A create makes a few calls in a row; no request may take longer than this."""
SHORT_VISIBILITY_SECONDS = 20
"""The chaos queues hand a killed worker's messages back this fast (130 s in the spec). It
stays above FREEZE_SECONDS, as the spec's 130 s is above a short outage: with 8 s a job
frozen mid-flight was redelivered during the freeze itself, and three such receives sent
it to the DLQ, which the test then saw as a soundbite that never became ready."""


def is_problem(seen, status: int) -> bool:
    if seen.status != status or seen.content_type != "application/problem+json":
        return False
    body = json.loads(seen.body)
    return body["status"] == status and {"type", "title", "detail", "correlationId"} <= set(body)


def statuses_of(seen) -> dict[int, int]:
    out: dict[int, int] = {}
    for s in seen:
        out[s.status] = out.get(s.status, 0) + 1
    return out


def shorten_visibility(deployment) -> None:
    sqs = deployment.emulator.client("sqs")
    sqs.set_queue_attributes(QueueUrl=deployment.data_plane.queue_url,
                             Attributes={"VisibilityTimeout": str(SHORT_VISIBILITY_SECONDS)})


def records(deployment) -> list[dict]:
    ddb = deployment.emulator.client("dynamodb")
    items = ddb.scan(TableName=deployment.data_plane.soundbites_table)["Items"]
    return [{k: next(iter(v.values())) for k, v in item.items()} for item in items]


def all_ready(deployment, expected: set[str]) -> bool:
    return not not_ready(deployment, expected)


def not_ready(deployment, expected: set[str]) -> dict[str, str]:
    """Accepted soundbites missing or not ready, and any record nobody was told about."""
    found = {r["id"]: r["status"] for r in records(deployment) if "id" in r}
    missing = {i: "missing" for i in expected - set(found)}
    return {**missing, **{i: s for i, s in found.items() if s != "ready"}}


class Traffic:
    """A few clients creating and reading in a loop until stopped."""

    def __init__(self, recorder: Recorder, clients: int = 4) -> None:
        self.recorder = recorder
        self.stop = threading.Event()
        self.accepted: dict[str, str] = {}  # idempotency key -> soundbite id
        self._pool = ThreadPoolExecutor(clients)
        self._clients = clients

    def __enter__(self) -> Traffic:
        for n in range(self._clients):
            self._pool.submit(self._loop, n)
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self._pool.shutdown(wait=True)

    def _loop(self, n: int) -> None:
        while not self.stop.is_set():
            key = str(uuid.uuid4())
            seen = self.recorder.create(f"Client {n} says hello.", key=key)
            if seen.status == 202:
                soundbite_id = json.loads(seen.body)["id"]
                self.accepted[key] = soundbite_id
                self.recorder.request("GET", f"/v1/soundbites/{soundbite_id}")
            self.stop.wait(0.2)


@pytest.mark.verify
@pytest.mark.timeout(150)
def test_a_frozen_emulator_fails_readiness_fast_and_the_stack_recovers_untouched(own_deployment):
    shorten_visibility(own_deployment)
    lane = own_deployment.lane(worker=True)
    recorder = Recorder(lane.url)
    probe = Recorder(lane.url)
    with Traffic(recorder):
        time.sleep(1.5)
        freeze(own_deployment.emulator.process)
        frozen_at = time.monotonic()
        try:
            ready = probe.request("GET", "/readyz")
            alive = probe.request("GET", "/healthz")
            time.sleep(max(0.0, FREEZE_SECONDS - (time.monotonic() - frozen_at)))
        finally:
            thaw(own_deployment.emulator.process)
        time.sleep(3)
    assert is_problem(ready, 503), ready
    assert ready.seconds < READINESS_DEADLINE_SECONDS + 1, f"readiness took {ready.seconds:.1f} s"
    assert "timeout" in json.loads(ready.body)["checks"]["dynamodb"]
    assert alive.status == 200 and alive.seconds < 1

    seen = recorder.seen
    assert seen and not any(s.status == 0 or s.status == 500 for s in seen), statuses_of(seen)
    assert all(s.status < 500 or is_problem(s, 503) for s in seen), statuses_of(seen)
    slowest = max(s.seconds for s in seen)
    assert slowest < REQUEST_BUDGET_SECONDS, f"a request took {slowest:.1f} s"
    assert probe.request("GET", "/readyz").status == 200  # recovered, no restart

    accepted = recorder_ids(seen)
    # Nothing half-written: every record the API left is one a client was told about, and
    # every one of them is synthesized once the emulator is back.
    try:
        wait_for(lambda: all_ready(own_deployment, accepted), 60, 0.5,
                   "every accepted soundbite ready")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {not_ready(own_deployment, accepted)}") from None
    stored = {r["id"] for r in records(own_deployment) if "id" in r}
    # A record the client never heard about (its response timed out after the write) is not
    # half-written: its job exists, it became ready above (all_ready checks every record),
    # and the client's retry with the same Idempotency-Key replays it.
    assert accepted <= stored, f"accepted but not stored: {accepted - stored}"


def recorder_ids(seen) -> set[str]:
    return {json.loads(s.body)["id"] for s in seen if s.method == "POST" and s.status == 202}


@pytest.mark.verify
@pytest.mark.timeout(90)
def test_a_missing_emulator_gets_503_problems_and_recovery_needs_no_restart(own_deployment):
    from infra.local.emulator import free_port

    port = free_port()  # nothing listens here: every AWS call is refused
    lane = own_deployment.lane(endpoint=f"http://127.0.0.1:{port}")
    client = Recorder(lane.url)
    created = client.create()
    read = client.request("GET", f"/v1/soundbites/{uuid.uuid4().hex}")
    ready = client.request("GET", "/readyz")
    for seen in (created, read, ready):
        assert is_problem(seen, 503), seen
        assert seen.headers.get("Retry-After"), seen
        assert seen.seconds < CALL_BUDGET_SECONDS, f"{seen.path} took {seen.seconds:.1f} s"
    assert "internal" not in created.body.decode().lower()
    assert client.request("GET", "/healthz").status == 200
    assert records(own_deployment) == []

    upstream = int(own_deployment.emulator.endpoint.rsplit(":", 1)[1])
    proxy = DelayProxy(upstream, port=port)  # the dependency comes back on the same address
    try:
        wait_for(lambda: client.request("GET", "/readyz").status == 200, 20, 0.5, "ready again")
        assert client.create().status == 202
    finally:
        proxy.close()


@pytest.mark.verify
@pytest.mark.timeout(120)
def test_a_slow_emulator_is_bounded_by_timeouts_and_requests_do_not_pile_up(own_deployment):
    upstream = int(own_deployment.emulator.endpoint.rsplit(":", 1)[1])
    proxy = DelayProxy(upstream, delay=0.3)
    try:
        threads = 4
        lane = own_deployment.lane(endpoint=proxy.endpoint, SOUNDBITE_WEB_WORKERS="1",
                                   SOUNDBITE_WEB_THREADS=str(threads))
        client = Recorder(lane.url)
        # 40 clients at once against 4 threads and a slow dependency: the dependency never
        # sees more calls at once than the server has threads (plus its readiness probes).
        with ThreadPoolExecutor(40) as pool:
            seen = list(pool.map(
                lambda _: client.request("GET", f"/v1/soundbites/{uuid.uuid4().hex}"), range(40)))
        assert all(s.status == 404 for s in seen), statuses_of(seen)
        assert proxy.peak_active <= threads + 3 + 3, f"{proxy.peak_active} calls at once"

        proxy.delay = aws.READ_TIMEOUT_SECONDS + 2  # slower than the read timeout
        before = proxy.requests
        slow = client.request("GET", f"/v1/soundbites/{uuid.uuid4().hex}")
        assert is_problem(slow, 503), slow
        assert proxy.requests - before == aws.MAX_ATTEMPTS, "one try per attempt, no more"
        assert aws.READ_TIMEOUT_SECONDS <= slow.seconds < CALL_BUDGET_SECONDS + 2, slow.seconds

        proxy.delay = 0
        fast = client.request("GET", f"/v1/soundbites/{uuid.uuid4().hex}")
        assert fast.status == 404 and fast.seconds < 2
    finally:
        proxy.close()


@pytest.mark.verify
@pytest.mark.timeout(90)
def test_redis_going_away_falls_back_and_comes_back(deployment, throwaway_redis):
    lane = deployment.lane(SOUNDBITE_REDIS_URL=throwaway_redis.url,
                           SOUNDBITE_RATE_LIMIT="1000 per hour", SOUNDBITE_WEB_WORKERS="1")
    client = Recorder(lane.url)
    created = client.create()
    assert created.status == 202
    path = created.headers["Location"]
    redis = throwaway_redis.client()
    assert client.request("GET", path).status == 200
    assert any(b"ratelimit" in k for k in redis.keys("*")), "counters are not in Redis"
    first = int(client.request("GET", path).headers["RateLimit-Remaining"])

    throwaway_redis.stop()
    during = [client.request("GET", path) for _ in range(10)]
    assert all(s.status == 200 for s in during), statuses_of(during)
    assert max(s.seconds for s in during) < 2, "a dead Redis must cost milliseconds"
    remaining = [int(s.headers["RateLimit-Remaining"]) for s in during]
    assert remaining == sorted(remaining, reverse=True), "the memory fallback still counts"

    throwaway_redis.start()  # same port, empty
    redis = throwaway_redis.client()

    def counted_in_redis() -> bool:
        client.request("GET", path)
        return any(b"ratelimit" in k for k in redis.keys("*"))

    wait_for(counted_in_redis, 30, 0.5, "counting in Redis again")
    after = client.request("GET", path)
    assert after.status == 200 and int(after.headers["RateLimit-Remaining"]) >= first - 1


@pytest.mark.verify
@pytest.mark.timeout(150)
def test_a_worker_killed_under_load_loses_no_accepted_soundbite(deployment):
    shorten_visibility(deployment)
    lane = deployment.lane(worker=True)
    load = LoadGenerator(lane.url, rate=6, create_share=0.6, audio_share=0.0, seed=11,
                         token=deployment.token())
    load.start()
    try:
        time.sleep(4)
        lane.kill("worker")  # SIGKILL: no chance to release what it holds
        lane.worker.wait(5)
        time.sleep(2)
        lane.start_worker()
        time.sleep(4)
    finally:
        load.stop()
    stats = load.stats
    accepted = set(stats.accepted.values())
    assert len(accepted) >= 10, stats.as_dict()
    assert stats.client_errors == 0 and stats.failed_operations == 0, stats.as_dict()
    wait_for(lambda: all_ready(deployment, accepted), SHORT_VISIBILITY_SECONDS * 6, 0.5,
               "every accepted soundbite ready")
    assert {r["id"] for r in records(deployment) if "id" in r} == accepted
