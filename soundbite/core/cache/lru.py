"""A thread-safe, size-bounded LRU with per-entry expiry and hit/miss counters."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MISSING = object()
EXPIRED_DROPPED_PER_PUT = 4
"""A put removes at most this many expired entries: bounded work, and more than one per put
so the dead outnumber nothing for long."""


@dataclass(frozen=True)
class CacheStats:
    hits: int
    misses: int
    evictions: int
    size: int

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


class LRUCache:
    """Least recently used first out; an entry also leaves when its own deadline passes.

    Deadlines are absolute times on the injected clock, so a value copied from another
    layer keeps the deadline it was given there (the staleness bound does not restart).
    """

    def __init__(self, max_entries: int, now: Callable[[], float] = time.time) -> None:
        if max_entries < 1:
            raise ValueError("an LRU cache needs room for at least one entry")
        self.max_entries = max_entries
        self._now = now
        self._entries: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = self._misses = self._evictions = 0

    def get(self, key: str, default: Any = None) -> Any:
        entry = self.entry(key)
        return default if entry is None else entry[0]

    def entry(self, key: str) -> tuple[Any, float] | None:
        """(value, deadline) while the entry lives, else None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] > self._now():
                self._entries.move_to_end(key)
                self._hits += 1
                return entry[1], entry[0]
            if entry is not None:
                del self._entries[key]
            self._misses += 1
            return None

    def put(self, key: str, value: Any, expires_at: float) -> None:
        if expires_at <= self._now():
            return
        with self._lock:
            self._entries[key] = (expires_at, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
                self._evictions += 1
            self._drop_expired_coldest()

    def _drop_expired_coldest(self) -> None:
        """Expired entries at the cold end leave now rather than when the size bound reaches
        them, so a process holds about what is live, not `max_entries` of dead records."""
        now = self._now()
        for _ in range(EXPIRED_DROPPED_PER_PUT):
            oldest = next(iter(self._entries.items()), None)
            if oldest is None or oldest[1][0] > now:
                return
            del self._entries[oldest[0]]

    def delete(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self._hits, self._misses, self._evictions, len(self._entries))
