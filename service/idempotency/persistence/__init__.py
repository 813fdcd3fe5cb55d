"""Idempotency record stores: the interface, DynamoDB (shared by every instance) and memory."""

from service.idempotency.persistence.base import IdempotencyStore
from service.idempotency.persistence.dynamodb import DynamoDBIdempotencyStore
from service.idempotency.persistence.memory import InMemoryIdempotencyStore

__all__ = ["DynamoDBIdempotencyStore", "IdempotencyStore", "InMemoryIdempotencyStore"]
