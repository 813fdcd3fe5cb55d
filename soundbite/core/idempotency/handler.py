"""Run one request under its idempotency record: replay, refuse, or process and remember.

Only successful responses (below 400) are remembered. Anything else releases the key: a
5xx must not poison it, and a 4xx wrote nothing, so the client may fix its body and retry
with the same key.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

from soundbite.core.idempotency.config import IdempotencyConfig
from soundbite.core.idempotency.exceptions import (
    IdempotencyInProgress,
    IdempotencyKeyReused,
    RecordExists,
)
from soundbite.core.idempotency.persistence.base import IdempotencyStore
from soundbite.core.idempotency.record import IdempotencyRecord, RecordStatus, StoredResponse

log = logging.getLogger("soundbite.idempotency")


def payload_hash(body: bytes) -> str:
    """Hash of the request body; JSON is canonicalised so spacing and key order do not count."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (UnicodeDecodeError, ValueError, RecursionError):
        canonical = body
    return hashlib.sha256(canonical).hexdigest()


def record_key(scope: str, caller: str | None, key: str) -> str:
    """The stored key: the operation, the caller (hashed: it is theirs) and the client's key."""
    who = hashlib.sha256((caller or "").encode()).hexdigest()[:32] if caller else "anonymous"
    return f"{scope}#{who}#{key}"


@dataclass(frozen=True)
class Outcome:
    response: StoredResponse
    replayed: bool


class IdempotentRequest:
    """One request's pass through the store; `run(process)` returns what to answer."""

    def __init__(self, store: IdempotencyStore, config: IdempotencyConfig, key: str,
                 body_hash: str, ttl_seconds: int | None = None) -> None:
        self.store = store
        self.config = config
        self.key = key
        self.body_hash = body_hash
        self.ttl_seconds = ttl_seconds or config.ttl_seconds

    def run(self, process: Callable[[], StoredResponse]) -> Outcome:
        try:
            held = self.store.put_in_progress(self.key, self.body_hash, self.config.lease_seconds)
        except RecordExists as exists:
            return Outcome(self._answer_existing(exists.record), replayed=True)
        try:
            response = process()
        except BaseException:
            self._release(held)
            raise
        if response.status >= 400:
            self._release(held)
            return Outcome(response, replayed=False)
        self._complete(held, response)
        return Outcome(response, replayed=False)

    def _answer_existing(self, record: IdempotencyRecord) -> StoredResponse:
        if record.status is RecordStatus.IN_PROGRESS:
            raise IdempotencyInProgress(record.retry_after(self.store.now()))
        if record.payload_hash != self.body_hash:
            raise IdempotencyKeyReused(record.response)
        return record.response

    def _complete(self, held: IdempotencyRecord, response: StoredResponse) -> None:
        # The work is done and the client gets its answer whatever happens here. If the
        # record cannot be written, the key stays in progress until its lease ends: retries
        # meanwhile get 409, and the failure is logged loudly for the operator.
        try:
            if self.store.complete(held, response, self.ttl_seconds) is None:
                log.error("idempotency lease lost before completion", extra={"key": self.key})
        except Exception:
            log.exception("idempotency record not completed", extra={"key": self.key})

    def _release(self, held: IdempotencyRecord) -> None:
        try:
            self.store.delete(held)
        except Exception:
            # The lease still ends on its own; a retry after it runs again.
            log.exception("idempotency record not released", extra={"key": self.key})
