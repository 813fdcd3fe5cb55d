"""The record store interface, with the in-process cache of completed records on top.

Subclasses implement four conditional operations on one key. This base adds the LRU:
a completed record never changes until it expires, so any process may answer a replay
from its own memory; an in-progress record is never cached, because its owner may finish
or give it up at any moment and only the shared store knows which.
"""

from __future__ import annotations

import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable

from soundbite import spec
from soundbite.core.cache.lru import LRUCache
from soundbite.core.idempotency.exceptions import RecordExists
from soundbite.core.idempotency.record import IdempotencyRecord, RecordStatus, StoredResponse


class IdempotencyStore(ABC):
    def __init__(self, cache: LRUCache | None = None, now: Callable[[], float] = time.time) -> None:
        self.cache = cache
        self._now = now

    def now(self) -> float:
        return self._now()

    # --- what a backend implements -------------------------------------------------------

    @abstractmethod
    def _get(self, key: str) -> IdempotencyRecord | None:
        """The stored record, expired or not, or None."""

    @abstractmethod
    def _put_if_absent(self, record: IdempotencyRecord, now: float) -> IdempotencyRecord | None:
        """Store `record` unless a live one holds the key; return that live one if it does."""

    @abstractmethod
    def _replace_if_owned(self, record: IdempotencyRecord) -> bool:
        """Overwrite the key's record if it still carries `record.token`; False if not."""

    @abstractmethod
    def _delete_if_owned(self, key: str, token: str) -> None:
        """Remove the key's record if it still carries `token`; do nothing otherwise."""

    # --- what the handler uses ---------------------------------------------------------

    def get(self, key: str) -> IdempotencyRecord | None:
        """The live record for `key`: from the cache when completed there, else the store."""
        now = self.now()
        if self.cache is not None:
            cached = self.cache.get(key)
            if cached is not None:
                return cached
        record = self._get(key)
        if record is None or record.is_expired(now):
            return None
        self._remember(record)
        return record

    def put_in_progress(self, key: str, payload_hash: str, lease_seconds: float) -> IdempotencyRecord:
        """Take the key for this request, or raise RecordExists with the live record."""
        if self.cache is not None:
            cached = self.cache.get(key)
            if cached is not None:
                raise RecordExists(cached)
        now = self.now()
        record = IdempotencyRecord(key, RecordStatus.IN_PROGRESS, payload_hash,
                                   now + lease_seconds, uuid.uuid4().hex)
        existing = self._put_if_absent(record, now)
        if existing is not None:
            self._remember(existing)
            raise RecordExists(existing)
        return record

    def complete(self, held: IdempotencyRecord, response: StoredResponse,
                 ttl_seconds: float) -> IdempotencyRecord | None:
        """Store the response under the key; None when the lease was lost meanwhile."""
        record = IdempotencyRecord(held.key, RecordStatus.COMPLETED, held.payload_hash,
                                   self.now() + ttl_seconds, held.token, response)
        if not self._replace_if_owned(record):
            return None
        self._remember(record)
        return record

    def delete(self, held: IdempotencyRecord) -> None:
        """Give the key up so a retry runs again (after a failure that wrote nothing lasting)."""
        self._delete_if_owned(held.key, held.token)

    def _remember(self, record: IdempotencyRecord) -> None:
        if self.cache is not None and record.status is RecordStatus.COMPLETED:
            self.cache.put(record.key, record,
                           min(record.expiry, self.now() + spec.IDEMPOTENCY_LOCAL_CACHE_SECONDS))
