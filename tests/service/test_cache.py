"""The read-through cache: LRU rules, the Redis layer, and the staleness bound on soundbites."""

from __future__ import annotations

import threading
import time
import zlib

import pytest

from soundbite import spec
from soundbite.core import domain
from soundbite.core.audio_store import AudioStore
from soundbite.core.cache import CachedSoundbiteReader, LRUCache, RedisLayer
from soundbite.core.cache import redis_layer as rl
from soundbite.core.domain import CreateRequest, Status


class Clock:
    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


# --- LRU -------------------------------------------------------------------------------


def test_lru_evicts_the_least_recently_used_and_counts():
    cache = LRUCache(2, now=Clock())
    cache.put("a", 1, 2_000), cache.put("b", 2, 2_000)
    assert cache.get("a") == 1  # "a" is now the most recent
    cache.put("c", 3, 2_000)
    assert cache.get("b") is None and cache.get("a") == 1 and cache.get("c") == 3
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.evictions, stats.size) == (3, 1, 1, 2)
    assert stats.hit_rate == 0.75


def test_lru_entries_leave_at_their_deadline():
    clock = Clock()
    cache = LRUCache(4, now=clock)
    cache.put("a", 1, clock.now + 5)
    clock.now += 4.99
    assert cache.get("a") == 1
    clock.now += 0.01
    assert cache.get("a") is None and len(cache) == 0
    cache.put("late", 1, clock.now)  # already due: never stored
    assert len(cache) == 0


def test_lru_holds_what_is_live_not_its_bound_of_dead_records():
    """Records read once and never again (each new soundbite) leave when they expire, not when
    the size bound pushes them out: memory follows the live set."""
    clock = Clock()
    cache = LRUCache(1000, now=clock)
    for n in range(500):
        cache.put(f"once-{n}", n, clock.now + 1)
        clock.now += 0.1
    assert len(cache) <= 11, "about ten are live at any time"
    assert cache.stats().evictions == 0


def test_lru_stays_bounded_and_consistent_under_threads():
    cache = LRUCache(64)
    far = 10**12

    def work(n: int) -> None:
        for i in range(2_000):
            cache.put(f"{n}-{i % 100}", i, far)
            cache.get(f"{(n + 1) % 8}-{i % 100}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats = cache.stats()
    assert stats.size == 64
    assert stats.hits + stats.misses == 8 * 2_000


# --- Redis layer -----------------------------------------------------------------------


def test_values_are_json_compressed_above_the_threshold_under_the_prefix(redis_url):
    import uuid

    prefix = f"soundbite:test-{uuid.uuid4().hex[:8]}:"
    layer = RedisLayer(redis_url, prefix=prefix)
    small, big = {"text": "hi"}, {"text": "x" * (spec.CACHE_COMPRESS_ABOVE_BYTES * 4)}
    deadline = time.time() + 30
    layer.put("small", small, deadline), layer.put("big", big, deadline)
    raw = rl.connect(redis_url)
    stored_small, stored_big = raw.get(prefix + "small"), raw.get(prefix + "big")
    assert stored_small.startswith(b"j{")
    assert stored_big.startswith(b"z") and len(stored_big) < spec.CACHE_COMPRESS_ABOVE_BYTES
    assert zlib.decompress(stored_big[1:]).startswith(b'{"v":')
    assert layer.get("big")[0] == big and layer.get("small") == (small, pytest.approx(deadline))
    assert 0 < raw.pttl(prefix + "big") <= 30_000
    raw.set(prefix + "junk", b"not ours")
    assert layer.get("junk") is None
    raw.delete(prefix + "small", prefix + "big", prefix + "junk")


def test_redis_layer_backs_off_exponentially_and_reconnects(throwaway_redis):
    clock = Clock()
    layer = RedisLayer(throwaway_redis.url, prefix="p:", now=clock)
    layer.put("k", {"v": 1}, clock.now + 60)
    assert layer.get("k")[0] == {"v": 1}

    throwaway_redis.stop()
    assert layer.get("k") is None and layer.failures == 1
    assert not layer.available
    clock.now += rl.BACKOFF_BASE_SECONDS
    assert layer.available
    assert layer.get("k") is None and layer.failures == 2
    clock.now += rl.BACKOFF_BASE_SECONDS  # half of the doubled backoff: still quiet
    assert not layer.available

    throwaway_redis.start()  # back, and empty
    clock.now += rl.BACKOFF_BASE_SECONDS
    layer.put("k", {"v": 2}, clock.now + 60)
    assert layer.failures == 0 and layer.get("k")[0] == {"v": 2}


def test_backoff_has_a_ceiling(throwaway_redis):
    clock = Clock()
    layer = RedisLayer(throwaway_redis.url, now=clock)
    throwaway_redis.stop()
    for _ in range(12):
        layer.get("k")
        clock.now += rl.BACKOFF_MAX_SECONDS
    assert layer.failures == 12 and layer.available


# --- the soundbite read-through and its staleness bound --------------------------------


@pytest.fixture
def soundbite(repo, fresh_data_plane):
    item = domain.new_soundbite(CreateRequest("Hello", spec.DEFAULT_VOICE, "wav"),
                                fresh_data_plane.environment, user_id=None)
    repo.create(item)
    return item


def test_a_worker_status_change_is_visible_within_the_in_flight_bound(repo, soundbite):
    clock = Clock()
    reader = CachedSoundbiteReader(repo, 5, LRUCache(16, now=clock), now=clock,
                                   in_flight_ttl_seconds=1)
    assert reader.get(soundbite.id).status is Status.PENDING
    repo.mark_processing(soundbite.id)  # the worker picks the job up
    clock.now += 0.9
    assert reader.get(soundbite.id).status is Status.PENDING  # hidden, but within the bound
    clock.now += 0.1
    assert reader.get(soundbite.id).status is Status.PROCESSING
    assert reader.lru.stats().hits == 1 and reader.lru.stats().misses == 2


def test_final_states_stay_cached_for_the_longer_ttl(repo, soundbite):
    clock = Clock()
    reader = CachedSoundbiteReader(repo, 5, LRUCache(16, now=clock), now=clock,
                                   in_flight_ttl_seconds=1)
    repo.mark_processing(soundbite.id)
    repo.mark_ready(soundbite.id, "audio/x.wav", 4, 0.5)
    assert reader.get(soundbite.id).status is Status.READY
    clock.now += 4.9
    assert reader.get(soundbite.id).status is Status.READY
    assert reader.lru.stats().hits == 1  # ready never changes again: no second read


def test_unknown_ids_are_not_cached(repo, fresh_data_plane):
    reader = CachedSoundbiteReader(repo, 5, LRUCache(16))
    item = domain.new_soundbite(CreateRequest("Late", spec.DEFAULT_VOICE, "wav"),
                                fresh_data_plane.environment, user_id=None)
    assert reader.get(item.id) is None
    repo.create(item)
    assert reader.get(item.id).id == item.id


def test_the_bound_holds_across_layers(repo, soundbite, redis_url, fresh_data_plane):
    """An entry copied from Redis into another process's LRU keeps its original deadline."""
    clock = Clock(time.time())
    prefix = f"soundbite:{fresh_data_plane.environment}:soundbite:"
    first = CachedSoundbiteReader(repo, 5, LRUCache(16, now=clock),
                                  RedisLayer(redis_url, prefix=prefix, now=clock), now=clock)
    second = CachedSoundbiteReader(repo, 5, LRUCache(16, now=clock),
                                   RedisLayer(redis_url, prefix=prefix, now=clock), now=clock)
    first.get(soundbite.id)
    repo.mark_processing(soundbite.id)
    clock.now += 0.5
    assert second.get(soundbite.id).status is Status.PENDING  # from Redis
    clock.now += 0.5  # the in-flight bound (1 s) from the first read, not from the copy
    assert second.get(soundbite.id).status is Status.PROCESSING


def test_reads_fall_back_to_the_lru_and_dynamodb_when_redis_is_down(repo, soundbite,
                                                                    throwaway_redis):
    reader = CachedSoundbiteReader(repo, 5, LRUCache(16),
                                   RedisLayer(throwaway_redis.url, prefix="p:"))
    throwaway_redis.stop()
    assert reader.get(soundbite.id).id == soundbite.id
    assert reader.get(soundbite.id).id == soundbite.id
    assert reader.lru.stats().hits == 1


class CountingAudioStore(AudioStore):
    def __init__(self, bucket: str) -> None:
        super().__init__(bucket)
        self.signed = 0

    def presigned_url(self, key: str) -> str:
        self.signed += 1
        return super().presigned_url(key)


def test_api_serves_cached_records_but_signs_audio_urls_per_request(
        make_app, repo, soundbite, fresh_data_plane, metrics_lines):
    build, lines = metrics_lines
    clock = Clock(time.time())
    store = CountingAudioStore(fresh_data_plane.bucket)
    from service.api import telemetry

    reader = CachedSoundbiteReader(repo, 5, LRUCache(16, now=clock), now=clock,
                                   on_lookup=telemetry.count_cache_lookup)
    client = build(audio_store=store, soundbite_reader=reader).test_client()
    url = f"/v1/soundbites/{soundbite.id}"
    assert client.get(url).get_json()["status"] == "pending"
    repo.mark_processing(soundbite.id)
    repo.mark_ready(soundbite.id, f"audio/{soundbite.id}.wav", 10, 0.2)
    assert client.get(url).get_json()["status"] == "pending"
    first = [r for r in lines() if "RequestLatency" in r]
    clock.now += 5
    signed_before = store.signed
    for _ in range(3):
        body = client.get(url).get_json()
        assert body["status"] == "ready" and "audio_url" in body
    assert store.signed - signed_before == 3
    counts = [(r.get("CacheHit"), r.get("CacheMiss"))
              for r in lines() if "RequestLatency" in r][len(first) - 1:]
    assert counts == [(1, 1), (2, 1)], "per interval: a miss then a hit, then a miss and 2 hits"


def test_audio_is_never_refused_on_a_cached_status(make_app, repo, soundbite, fresh_data_plane):
    clock = Clock(time.time())
    reader = CachedSoundbiteReader(repo, 5, LRUCache(16, now=clock), now=clock)
    client = make_app(soundbite_reader=reader).test_client()
    assert client.get(f"/v1/soundbites/{soundbite.id}/audio").status_code == 409
    repo.mark_processing(soundbite.id)
    repo.mark_ready(soundbite.id, f"audio/{soundbite.id}.wav", 10, 0.2)
    assert client.get(f"/v1/soundbites/{soundbite.id}/audio").status_code == 302


def test_a_hot_record_is_refreshed_ahead_and_no_request_waits_on_dynamodb(repo, soundbite):
    """A hit in the last half of an entry's life reads the record once in the background;
    the old entry is served until its own deadline, the new one from its own read."""
    clock = Clock()
    queued = []
    reader = CachedSoundbiteReader(repo, 5, LRUCache(16, now=clock), now=clock,
                                   in_flight_ttl_seconds=1, refresher=queued.append)
    assert reader.get(soundbite.id).status is Status.PENDING  # a miss: read in the foreground
    clock.now += 0.4
    reader.get(soundbite.id)
    assert queued == [], "young entries are not refreshed"
    repo.mark_processing(soundbite.id)
    clock.now += 0.2  # 0.6 s old: in the last half of its 1 s
    assert reader.get(soundbite.id).status is Status.PENDING, "the cached entry is still served"
    reader.get(soundbite.id)
    assert len(queued) == 1, "one refresh per record at a time"
    queued.pop()()  # the background read runs
    clock.now += 0.5  # past the first entry's deadline, within the refreshed one's
    assert reader.get(soundbite.id).status is Status.PROCESSING
    stats = reader.lru.stats()
    assert (stats.hits, stats.misses) == (4, 1), "only the first read waited on DynamoDB"


def test_a_failed_refresh_ahead_leaves_the_bound_and_the_next_miss_reads(repo, soundbite):
    clock = Clock()
    queued = []
    reader = CachedSoundbiteReader(repo, 5, LRUCache(16, now=clock), now=clock,
                                   in_flight_ttl_seconds=1, refresher=queued.append)
    reader.get(soundbite.id)
    clock.now += 0.6
    reader.get(soundbite.id)
    real_get, repo.get = repo.get, lambda _id: (_ for _ in ()).throw(RuntimeError("down"))
    queued.pop()()  # fails quietly
    repo.get = real_get
    reader.get(soundbite.id)
    assert len(queued) == 1, "after a failure the next hit may try again"
    repo.mark_processing(soundbite.id)
    clock.now += 0.4  # the first entry's deadline: nothing fresher was cached
    assert reader.get(soundbite.id).status is Status.PROCESSING
