"""Idempotent POSTs shared by every API instance on both stacks.

Modelled on aws-powertools' idempotency utility: a record store behind a small interface
(get / put in progress / complete / delete) with DynamoDB and in-memory implementations,
a handler that runs one request under a record, and a Flask integration that wraps views.
"""

from soundbite.core.idempotency.config import IdempotencyConfig
from soundbite.core.idempotency.exceptions import (
    IdempotencyError,
    IdempotencyInProgress,
    IdempotencyKeyReused,
    IdempotencyStoreUnavailable,
)
from soundbite.core.idempotency.handler import IdempotentRequest
from soundbite.core.idempotency.record import IdempotencyRecord, RecordStatus, StoredResponse

__all__ = [
    "IdempotencyConfig", "IdempotencyError", "IdempotencyInProgress", "IdempotencyKeyReused",
    "IdempotencyRecord", "IdempotencyStoreUnavailable", "IdempotentRequest", "RecordStatus",
    "StoredResponse",
]
