"""Read-through cache of soundbite records in front of DynamoDB.

The staleness bound: a record read from DynamoDB at time t is served from any cache layer
until its deadline and never after. A pending or processing record (the only states that
still change) gets t + `in_flight_ttl` (`SOUNDBITE_CACHE_IN_FLIGHT_TTL_SECONDS`, 1 s), so a
status change the worker writes is visible to every reader within that bound; a ready or
failed record never changes again and keeps t + `ttl` (`SOUNDBITE_CACHE_TTL_SECONDS`, 5 s).
Both layers keep the deadline the record got when it was read: copying an entry from
Redis into the LRU does not restart its clock.

Only the stored record is cached: the LRU keeps the (frozen) `Soundbite` itself, so a hit
builds nothing; Redis keeps its dict. Anything derived per request (the presigned audio URL,
which expires) is built from it by the caller every time.

Refresh ahead (with a `refresher`): a hit on an entry in the last half of its life starts one
background read of that record, so a record many clients poll is replaced before it expires
and no request waits on DynamoDB for it. The bound is untouched: the cached entry is still
served only until its own deadline, and the new one gets the time of its own read.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from soundbite import spec
from soundbite.core.cache.lru import LRUCache
from soundbite.core.cache.redis_layer import RedisLayer
from soundbite.core.domain import Soundbite, Status

FINAL = (Status.READY, Status.FAILED)
log = logging.getLogger("soundbite.cache")


def background_refresher() -> Callable[[Callable[[], object]], None]:
    """Runs refreshes one at a time on a thread made on first use (after gunicorn's fork)."""
    pool: list[ThreadPoolExecutor] = []
    lock = threading.Lock()

    def submit(refresh: Callable[[], object]) -> None:
        with lock:
            if not pool:
                pool.append(ThreadPoolExecutor(1, thread_name_prefix="cache-refresh"))
        pool[0].submit(refresh)
    return submit


class CachedSoundbiteReader:
    """`get(id)` like the repository's, answered from the LRU, then Redis, then DynamoDB."""

    def __init__(self, repository, ttl_seconds: float, lru: LRUCache,
                 redis_layer: RedisLayer | None = None, now: Callable[[], float] = time.time,
                 on_lookup: Callable[[str], None] | None = None,
                 in_flight_ttl_seconds: float = spec.CACHE_IN_FLIGHT_TTL_SECONDS,
                 refresher: Callable[[Callable[[], object]], None] | None = None) -> None:
        self.repository = repository
        self.ttl_seconds = ttl_seconds
        self.in_flight_ttl_seconds = min(in_flight_ttl_seconds, ttl_seconds)
        self.lru = lru
        self.redis = redis_layer
        self._now = now
        self._on_lookup = on_lookup or (lambda outcome: None)
        self._refresher = refresher
        self._refreshing: set[str] = set()
        self._refreshing_lock = threading.Lock()

    def get(self, soundbite_id: str) -> Soundbite | None:
        cached = self.lru.entry(soundbite_id)
        if cached is not None:
            soundbite, deadline = cached
            self._on_lookup("hit")
            if self._refresher is not None:
                self._maybe_refresh_ahead(soundbite, deadline)
            return soundbite
        if self.redis is not None:
            shared = self.redis.get(soundbite_id)
            # Redis expires entries on its own clock; the deadline check keeps the bound
            # exact even when this host's clock and Redis's disagree.
            if shared is not None and shared[1] > self._now():
                data, deadline = shared
                soundbite = Soundbite.from_dict(data)
                self.lru.put(soundbite_id, soundbite, deadline)
                self._on_lookup("hit")
                return soundbite
        self._on_lookup("miss")
        return self.refresh(soundbite_id)

    def _ttl_for(self, soundbite: Soundbite) -> float:
        return self.ttl_seconds if soundbite.status in FINAL else self.in_flight_ttl_seconds

    def _maybe_refresh_ahead(self, soundbite: Soundbite, deadline: float) -> None:
        if deadline - self._now() > self._ttl_for(soundbite) / 2:
            return
        with self._refreshing_lock:
            if soundbite.id in self._refreshing:
                return
            self._refreshing.add(soundbite.id)

        def refresh() -> None:
            try:
                self.refresh(soundbite.id)
            except Exception:  # noqa: BLE001 - a miss reads it in the foreground instead
                log.warning("refresh ahead failed", extra={"soundbiteId": soundbite.id},
                            exc_info=True)
            finally:
                with self._refreshing_lock:
                    self._refreshing.discard(soundbite.id)

        try:
            self._refresher(refresh)
        except RuntimeError:  # the refresher shut down with the process
            with self._refreshing_lock:
                self._refreshing.discard(soundbite.id)

    def refresh(self, soundbite_id: str) -> Soundbite | None:
        """Read from DynamoDB and replace what the caches hold (for answers that must be fresh)."""
        soundbite = self.repository.get(soundbite_id)
        if soundbite is not None and self.ttl_seconds > 0:
            # Unknown ids are not cached: a soundbite created a moment later must be found.
            deadline = self._now() + self._ttl_for(soundbite)
            self.lru.put(soundbite_id, soundbite, deadline)
            if self.redis is not None:
                self.redis.put(soundbite_id, soundbite.to_dict(), deadline)
        return soundbite
