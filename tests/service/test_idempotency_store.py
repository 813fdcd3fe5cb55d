"""The record stores (DynamoDB on the emulator, and memory) under a fake clock."""

from __future__ import annotations

import pytest

from soundbite import spec
from soundbite.core.cache.lru import LRUCache
from soundbite.core.idempotency import IdempotencyConfig, IdempotentRequest, StoredResponse
from soundbite.core.idempotency.exceptions import (
    IdempotencyInProgress,
    IdempotencyKeyReused,
    RecordExists,
)
from soundbite.core.idempotency.persistence import (
    DynamoDBIdempotencyStore,
    InMemoryIdempotencyStore,
)
from soundbite.core.idempotency.record import RecordStatus

ACCEPTED = StoredResponse(202, '{"id":"abc"}', {"Location": "/v1/soundbites/abc"})


class Clock:
    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["dynamodb", "memory"])
def make_store(request):
    def build(clock, cache=None):
        if request.param == "memory":
            return InMemoryIdempotencyStore(cache=cache, now=clock)
        plane = request.getfixturevalue("fresh_data_plane")
        return DynamoDBIdempotencyStore(plane.idempotency_table, cache=cache, now=clock)

    return build


def test_a_taken_key_refuses_a_second_taker_until_its_lease_ends(make_store):
    clock = Clock()
    store = make_store(clock)
    first = store.put_in_progress("k", "h", lease_seconds=30)
    with pytest.raises(RecordExists) as refused:
        store.put_in_progress("k", "h", lease_seconds=30)
    assert refused.value.record.status is RecordStatus.IN_PROGRESS
    assert refused.value.record.token == first.token
    clock.now += 31  # the first request crashed: its lease ran out
    second = store.put_in_progress("k", "h", lease_seconds=30)
    assert second.token != first.token
    # The crashed request cannot complete or release what is no longer its own.
    assert store.complete(first, ACCEPTED, ttl_seconds=60) is None
    store.delete(first)
    assert store.get("k").token == second.token


def test_a_completed_record_answers_until_its_ttl_then_the_key_is_free(make_store):
    clock = Clock()
    store = make_store(clock)
    held = store.put_in_progress("k", "h", lease_seconds=30)
    done = store.complete(held, ACCEPTED, ttl_seconds=3600)
    assert done.status is RecordStatus.COMPLETED
    clock.now += 3599
    with pytest.raises(RecordExists) as exists:
        store.put_in_progress("k", "h", lease_seconds=30)
    assert exists.value.record.response == ACCEPTED
    clock.now += 2
    assert store.get("k") is None
    store.put_in_progress("k", "h", lease_seconds=30)


def test_release_frees_the_key_at_once(make_store):
    store = make_store(Clock())
    store.delete(store.put_in_progress("k", "h", lease_seconds=30))
    assert store.get("k") is None
    store.put_in_progress("k", "h", lease_seconds=30)


def test_handler_runs_once_then_replays_or_refuses(make_store):
    clock = Clock()
    store = make_store(clock, cache=LRUCache(8, now=clock))
    config = IdempotencyConfig()
    calls = []

    def process():
        calls.append(1)
        return ACCEPTED

    first = IdempotentRequest(store, config, "k", "h").run(process)
    again = IdempotentRequest(store, config, "k", "h").run(process)
    assert (first.replayed, again.replayed) == (False, True)
    assert again.response == ACCEPTED and len(calls) == 1
    with pytest.raises(IdempotencyKeyReused) as reused:
        IdempotentRequest(store, config, "k", "other-body").run(process)
    assert reused.value.original == ACCEPTED


def test_handler_releases_the_key_when_processing_raises(make_store):
    store = make_store(Clock())
    config = IdempotencyConfig()

    def boom():
        raise RuntimeError("queue down")

    with pytest.raises(RuntimeError):
        IdempotentRequest(store, config, "k", "h").run(boom)
    assert IdempotentRequest(store, config, "k", "h").run(lambda: ACCEPTED).replayed is False


def test_handler_refuses_while_another_request_holds_the_key(make_store):
    clock = Clock()
    store = make_store(clock)
    store.put_in_progress("k", "h", lease_seconds=30)
    clock.now += 10
    with pytest.raises(IdempotencyInProgress) as busy:
        IdempotentRequest(store, IdempotencyConfig(), "k", "h").run(lambda: ACCEPTED)
    assert busy.value.retry_after_seconds in (20, 21)


def test_only_completed_records_are_cached(make_store):
    clock = Clock()
    cache = LRUCache(8, now=clock)
    store = make_store(clock, cache=cache)
    held = store.put_in_progress("k", "h", lease_seconds=30)
    with pytest.raises(RecordExists):
        store.put_in_progress("k", "h", lease_seconds=30)
    assert len(cache) == 0
    store.complete(held, ACCEPTED, ttl_seconds=60)
    assert cache.get("k").response == ACCEPTED


def test_a_process_keeps_an_answer_in_memory_for_retries_not_for_the_keys_whole_life(make_store):
    """Retries seconds apart are answered from memory; after a minute the process forgets the
    answer (memory stays flat under steady creates) and a replay reads the shared record."""
    clock = Clock()
    cache = LRUCache(8, now=clock)
    store = make_store(clock, cache=cache)
    store.complete(store.put_in_progress("k", "h", lease_seconds=30), ACCEPTED,
                   ttl_seconds=24 * 3600)
    clock.now += spec.IDEMPOTENCY_LOCAL_CACHE_SECONDS - 1
    assert cache.get("k").response == ACCEPTED
    clock.now += 1
    assert cache.get("k") is None
    replay = IdempotentRequest(store, IdempotencyConfig(), "k", "h").run(lambda: ACCEPTED)
    assert replay.replayed and replay.response == ACCEPTED, "the shared record still answers"


def test_a_create_makes_the_aws_calls_the_spec_counts(client):
    """The key's hold is sized from CREATE_AWS_CALLS: a create with a new key makes that many."""
    from service.api import context
    from tests.service.test_api_core import create

    with client.application.app_context():
        clients = {id(c): c for c in (context.repository().client, context.publisher().client,
                                      context.idempotency_store().client)}
    calls = []

    def count(event_name, **_):
        calls.append(event_name)

    for c in clients.values():
        c.meta.events.register("before-call", count)
    try:
        assert create(client).status_code == 202
    finally:
        for c in clients.values():
            c.meta.events.unregister("before-call", count)
    assert len(calls) == spec.CREATE_AWS_CALLS, calls


def test_a_key_is_held_longer_than_the_slowest_create_can_take():
    """A client retrying with the same key after its own timeout must meet 409, never a second
    create: the hold outlasts every AWS call of a create at its worst (every try timing out)."""
    from soundbite.core import aws

    config = aws.CLIENT_CONFIG
    slowest_call = config.retries["total_max_attempts"] * (config.connect_timeout + config.read_timeout)
    assert IdempotencyConfig().lease_seconds > spec.CREATE_AWS_CALLS * slowest_call
