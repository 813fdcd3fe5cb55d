"""Records in DynamoDB, shared by every API instance on both stacks.

Taking a key is one conditional put: it succeeds only when no record exists or the one
there has expired (a completed record past its TTL, which DynamoDB deletes lazily, or an
in-progress record past its lease, whose request crashed). Completing and releasing are
conditional on the token the put wrote, so a request whose lease was taken over cannot
overwrite or delete the new owner's record.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable

from soundbite import spec
from soundbite.core import aws
from soundbite.core.cache.lru import LRUCache
from soundbite.core.idempotency.exceptions import IdempotencyStoreUnavailable
from soundbite.core.idempotency.persistence.base import IdempotencyStore
from soundbite.core.idempotency.record import IdempotencyRecord, RecordStatus, StoredResponse

KEY = spec.IDEMPOTENCY_TABLE.hash_key
EXPIRATION = spec.IDEMPOTENCY_TABLE.ttl_attribute
CONDITION_FAILED = "ConditionalCheckFailedException"


def to_item(record: IdempotencyRecord) -> dict:
    item = {
        KEY: {"S": record.key},
        "status": {"S": record.status.value},
        # Whole seconds, rounded up: DynamoDB TTL reads epoch seconds, and rounding up
        # never shortens a lease or a retention period.
        EXPIRATION: {"N": str(math.ceil(record.expiry))},
        "validation": {"S": record.payload_hash},
        "token": {"S": record.token},
    }
    if record.response is not None:
        item["response"] = {"S": record.response.to_json()}
    return item


def from_item(item: dict) -> IdempotencyRecord:
    response = item.get("response", {}).get("S")
    return IdempotencyRecord(
        key=item[KEY]["S"],
        status=RecordStatus(item["status"]["S"]),
        payload_hash=item["validation"]["S"],
        expiry=float(item[EXPIRATION]["N"]),
        token=item["token"]["S"],
        response=StoredResponse.from_json(response) if response else None,
    )


class DynamoDBIdempotencyStore(IdempotencyStore):
    def __init__(self, table: str, client=None, cache: LRUCache | None = None,
                 now: Callable[[], float] = time.time) -> None:
        super().__init__(cache, now)
        self.table = table
        self._client = client

    client = aws.LazyClient("dynamodb")

    def _call(self, operation: str, **kwargs) -> dict:
        try:
            return getattr(self.client, operation)(TableName=self.table, **kwargs)
        except aws.AWS_ERRORS as exc:
            if aws.error_code(exc) == CONDITION_FAILED:
                raise
            raise IdempotencyStoreUnavailable(
                f"idempotency store: {operation} failed ({aws.error_code(exc)})") from exc

    def _get(self, key: str) -> IdempotencyRecord | None:
        found = self._call("get_item", Key={KEY: {"S": key}}, ConsistentRead=True)
        return from_item(found["Item"]) if "Item" in found else None

    def _put_if_absent(self, record: IdempotencyRecord, now: float) -> IdempotencyRecord | None:
        try:
            self._call(
                "put_item", Item=to_item(record),
                ConditionExpression=f"attribute_not_exists({KEY}) OR {EXPIRATION} <= :now",
                ExpressionAttributeValues={":now": {"N": str(math.floor(now))}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return None
        except aws.AWS_ERRORS as exc:
            old = getattr(exc, "response", {}).get("Item")
            existing = from_item(old) if old else self._get(record.key)
            if existing is None:
                # The holder released the key between our put and our read: take it now.
                return self._put_if_absent(record, now)
            return existing

    def _replace_if_owned(self, record: IdempotencyRecord) -> bool:
        try:
            self._call("put_item", Item=to_item(record), ConditionExpression="#t = :token",
                       ExpressionAttributeNames={"#t": "token"},
                       ExpressionAttributeValues={":token": {"S": record.token}})
            return True
        except aws.AWS_ERRORS:
            return False

    def _delete_if_owned(self, key: str, token: str) -> None:
        # A refused condition means someone else holds the key now: not ours to release.
        with contextlib.suppress(*aws.AWS_ERRORS):
            self._call("delete_item", Key={KEY: {"S": key}}, ConditionExpression="#t = :token",
                       ExpressionAttributeNames={"#t": "token"},
                       ExpressionAttributeValues={":token": {"S": token}})
