"""Records in this process only: for tests and a single instance, never for two stacks."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from soundbite.core.cache.lru import LRUCache
from soundbite.core.idempotency.persistence.base import IdempotencyStore
from soundbite.core.idempotency.record import IdempotencyRecord


class InMemoryIdempotencyStore(IdempotencyStore):
    def __init__(self, cache: LRUCache | None = None, now: Callable[[], float] = time.time) -> None:
        super().__init__(cache, now)
        self._records: dict[str, IdempotencyRecord] = {}
        self._lock = threading.Lock()

    def _get(self, key: str) -> IdempotencyRecord | None:
        with self._lock:
            return self._records.get(key)

    def _put_if_absent(self, record: IdempotencyRecord, now: float) -> IdempotencyRecord | None:
        with self._lock:
            existing = self._records.get(record.key)
            if existing is not None and not existing.is_expired(now):
                return existing
            self._records[record.key] = record
            return None

    def _replace_if_owned(self, record: IdempotencyRecord) -> bool:
        with self._lock:
            existing = self._records.get(record.key)
            if existing is None or existing.token != record.token:
                return False
            self._records[record.key] = record
            return True

    def _delete_if_owned(self, key: str, token: str) -> None:
        with self._lock:
            existing = self._records.get(key)
            if existing is not None and existing.token == token:
                del self._records[key]
