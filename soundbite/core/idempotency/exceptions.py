"""Errors of the idempotency package: a base class and one leaf per outcome a caller sees."""

from __future__ import annotations

from soundbite.core.exceptions import ServiceError


class IdempotencyError(ServiceError):
    """Base of every idempotency error."""


class IdempotencyKeyReused(IdempotencyError):
    """The key was used before with a different request body; carries the original response."""

    def __init__(self, original) -> None:
        super().__init__("this Idempotency-Key was already used with a different request body")
        self.original = original


class IdempotencyInProgress(IdempotencyError):
    """Another request with the same key is still being processed."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__("a request with this Idempotency-Key is still being processed")
        self.retry_after_seconds = retry_after_seconds


class IdempotencyStoreUnavailable(IdempotencyError):
    """The record store did not answer; the request is refused rather than run unguarded."""


class RecordExists(IdempotencyError):
    """Internal: a live record already holds the key (`record` is it)."""

    def __init__(self, record) -> None:
        super().__init__(f"a record holds {record.key}")
        self.record = record
