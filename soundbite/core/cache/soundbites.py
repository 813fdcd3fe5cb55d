"""Read-through cache of soundbite records in front of DynamoDB.

The staleness bound: a record read from DynamoDB at time t is served from any cache layer
until its deadline and never after. A pending or processing record (the only states that
still change) gets t + `in_flight_ttl` (`SOUNDBITE_CACHE_IN_FLIGHT_TTL_SECONDS`, 1 s), so a
status change the worker writes is visible to every reader within that bound; a ready or
failed record never changes again and keeps t + `ttl` (`SOUNDBITE_CACHE_TTL_SECONDS`, 5 s).
Both layers keep the deadline the record got when it was read: copying an entry from
Redis into the LRU does not restart its clock.

Only the stored record is cached. Anything derived per request (the presigned audio URL,
which expires) is built from it by the caller every time.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from soundbite import spec
from soundbite.core.cache.lru import LRUCache
from soundbite.core.cache.redis_layer import RedisLayer
from soundbite.core.domain import Soundbite, Status

FINAL = (Status.READY, Status.FAILED)


class CachedSoundbiteReader:
    """`get(id)` like the repository's, answered from the LRU, then Redis, then DynamoDB."""

    def __init__(self, repository, ttl_seconds: float, lru: LRUCache,
                 redis_layer: RedisLayer | None = None, now: Callable[[], float] = time.time,
                 on_lookup: Callable[[str], None] | None = None,
                 in_flight_ttl_seconds: float = spec.CACHE_IN_FLIGHT_TTL_SECONDS) -> None:
        self.repository = repository
        self.ttl_seconds = ttl_seconds
        self.in_flight_ttl_seconds = min(in_flight_ttl_seconds, ttl_seconds)
        self.lru = lru
        self.redis = redis_layer
        self._now = now
        self._on_lookup = on_lookup or (lambda outcome: None)

    def get(self, soundbite_id: str) -> Soundbite | None:
        cached = self.lru.get(soundbite_id)
        if cached is not None:
            self._on_lookup("hit")
            return Soundbite.from_dict(cached)
        if self.redis is not None:
            shared = self.redis.get(soundbite_id)
            # Redis expires entries on its own clock; the deadline check keeps the bound
            # exact even when this host's clock and Redis's disagree.
            if shared is not None and shared[1] > self._now():
                data, deadline = shared
                self.lru.put(soundbite_id, data, deadline)
                self._on_lookup("hit")
                return Soundbite.from_dict(data)
        self._on_lookup("miss")
        return self.refresh(soundbite_id)

    def refresh(self, soundbite_id: str) -> Soundbite | None:
        """Read from DynamoDB and replace what the caches hold (for answers that must be fresh)."""
        soundbite = self.repository.get(soundbite_id)
        if soundbite is not None and self.ttl_seconds > 0:
            # Unknown ids are not cached: a soundbite created a moment later must be found.
            ttl = self.ttl_seconds if soundbite.status in FINAL else self.in_flight_ttl_seconds
            data, deadline = soundbite.to_dict(), self._now() + ttl
            self.lru.put(soundbite_id, data, deadline)
            if self.redis is not None:
                self.redis.put(soundbite_id, data, deadline)
        return soundbite
