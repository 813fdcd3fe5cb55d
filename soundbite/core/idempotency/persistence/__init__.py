"""Idempotency record stores: the interface, DynamoDB (shared by every instance) and memory."""

from soundbite.core.idempotency.persistence.base import IdempotencyStore
from soundbite.core.idempotency.persistence.dynamodb import DynamoDBIdempotencyStore
from soundbite.core.idempotency.persistence.memory import InMemoryIdempotencyStore

__all__ = ["DynamoDBIdempotencyStore", "IdempotencyStore", "InMemoryIdempotencyStore"]
