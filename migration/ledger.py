"""The migration ledger in DynamoDB: a lease lock, the run's state, and its appended events.

Item layout (table `spec.MIGRATION_LEDGER_TABLE`, keys pk/sk):

| pk | sk | attributes |
|---|---|---|
| `LOCK#<stack>` | `STATE` | `owner`, `runId`, `acquiredAt`, `expiresAt` (epoch s; also the TTL) |
| `RUN#<stack>` | `STATE` | `runId`, `updatedAt`, `doc` (JSON: status, plan, weights, phase, approvals) |
| `RUN#<stack>` | `EVENT#<epoch ms, 15 digits>#<seq>` | `runId`, `kind`, `at`, `doc` (JSON evidence) |

The lease is taken with a conditional put (free, expired, or already ours), renewed with a
conditional update, and released with a conditional delete, so two operators never migrate
the same stack at once and a crashed run's lease simply runs out.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable

from botocore.exceptions import BotoCoreError, ClientError

from migration.exceptions import LeaseLostError, LockHeldError, MigrationError
from soundbite import spec

STATE = "STATE"


def _failed_condition(exc: ClientError) -> bool:
    return exc.response["Error"]["Code"] == "ConditionalCheckFailedException"


class Ledger:
    def __init__(self, table: str, stack: str, client=None, owner: str | None = None,
                 now: Callable[[], float] = time.time,
                 lease_seconds: float = spec.LEDGER_LEASE_SECONDS):
        self.table, self.stack = table, stack
        self._client = client
        self.owner = owner or f"run-{uuid.uuid4().hex[:12]}"
        self.now = now
        self.lease_seconds = lease_seconds
        self._seq = 0

    @property
    def client(self):
        if self._client is None:
            import boto3

            self._client = boto3.client("dynamodb")
        return self._client

    @property
    def lock_key(self) -> dict:
        return {"pk": {"S": f"LOCK#{self.stack}"}, "sk": {"S": STATE}}

    @property
    def run_pk(self) -> str:
        return f"RUN#{self.stack}"

    def _call(self, method: str, **kwargs):
        try:
            return getattr(self.client, method)(TableName=self.table, **kwargs)
        except ClientError as exc:
            if _failed_condition(exc):
                raise
            raise MigrationError(f"ledger table {self.table}: {exc}") from exc
        except BotoCoreError as exc:
            raise MigrationError(f"ledger table {self.table}: {exc}") from exc

    # --- lease --------------------------------------------------------------------------

    def acquire(self) -> None:
        """Take the stack's lease: free, expired, or already ours; else LockHeldError."""
        now = self.now()
        item = {**self.lock_key, "owner": {"S": self.owner}, "runId": {"S": self.owner},
                "acquiredAt": {"N": repr(now)}, "expiresAt": {"N": repr(now + self.lease_seconds)}}
        try:
            self._call("put_item", Item=item,
                       ConditionExpression="attribute_not_exists(pk) OR expiresAt < :now OR #o = :me",
                       ExpressionAttributeNames={"#o": "owner"},
                       ExpressionAttributeValues={":now": {"N": repr(now)}, ":me": {"S": self.owner}})
        except ClientError as exc:
            holder = self.holder() or {}
            left = max(0.0, holder.get("expiresAt", now) - now)
            raise LockHeldError(f"another run ({holder.get('owner', 'unknown')}) holds the lock on "
                                f"{self.stack} for {left:.0f} more s") from exc

    def acquire_forcibly(self) -> str | None:
        """Take the lease whoever holds it (rollback must win); returns the previous owner."""
        previous = self.holder()
        now = self.now()
        self._call("put_item", Item={**self.lock_key, "owner": {"S": self.owner},
                                     "runId": {"S": self.owner}, "acquiredAt": {"N": repr(now)},
                                     "expiresAt": {"N": repr(now + self.lease_seconds)}})
        if previous and previous["owner"] != self.owner and not previous["expired"]:
            self.append("lock-taken-over", previous=previous["owner"])
            return previous["owner"]
        return None

    def renew(self) -> None:
        now = self.now()
        try:
            self._call("update_item", Key=self.lock_key, UpdateExpression="SET expiresAt = :exp",
                       ConditionExpression="#o = :me AND expiresAt >= :now",
                       ExpressionAttributeNames={"#o": "owner"},
                       ExpressionAttributeValues={":exp": {"N": repr(now + self.lease_seconds)},
                                                  ":me": {"S": self.owner}, ":now": {"N": repr(now)}})
        except ClientError as exc:
            raise LeaseLostError(f"this run lost the lock on {self.stack}: it expired or was taken over") from exc

    def release(self) -> None:
        # A lease that is no longer ours has nothing to release.
        with contextlib.suppress(ClientError):
            self._call("delete_item", Key=self.lock_key, ConditionExpression="#o = :me",
                       ExpressionAttributeNames={"#o": "owner"},
                       ExpressionAttributeValues={":me": {"S": self.owner}})

    def holder(self) -> dict | None:
        """The current lease (owner, expiresAt, expired) or None when the lock is free."""
        item = self._call("get_item", Key=self.lock_key, ConsistentRead=True).get("Item")
        if not item:
            return None
        expires = float(item["expiresAt"]["N"])
        return {"owner": item["owner"]["S"], "expiresAt": expires, "expired": expires < self.now()}

    # --- run state and events -----------------------------------------------------------

    def read_state(self) -> dict:
        item = self._call("get_item", Key={"pk": {"S": self.run_pk}, "sk": {"S": STATE}},
                          ConsistentRead=True).get("Item")
        return json.loads(item["doc"]["S"]) if item else {}

    def write_state(self, **fields) -> dict:
        state = {**self.read_state(), **fields, "runId": self.owner, "updatedAt": self.now()}
        self._call("put_item", Item={"pk": {"S": self.run_pk}, "sk": {"S": STATE},
                                     "runId": {"S": self.owner}, "updatedAt": {"N": repr(self.now())},
                                     "doc": {"S": json.dumps(state, default=str)}})
        return state

    def append(self, kind: str, **data) -> dict:
        """Append one event (a step, a verdict with its evidence, a rollback)."""
        self._seq += 1
        at = self.now()
        sk = f"EVENT#{int(at * 1000):015d}#{self._seq:06d}"
        event = {"kind": kind, "at": at, "runId": self.owner, **data}
        self._call("put_item", Item={"pk": {"S": self.run_pk}, "sk": {"S": sk},
                                     "runId": {"S": self.owner}, "kind": {"S": kind},
                                     "at": {"N": repr(at)}, "doc": {"S": json.dumps(event, default=str)}})
        return event

    def events(self, limit: int = 20) -> list[dict]:
        """The newest `limit` events, oldest first."""
        page = self._call("query", KeyConditionExpression="pk = :pk AND begins_with(sk, :ev)",
                          ExpressionAttributeValues={":pk": {"S": self.run_pk}, ":ev": {"S": "EVENT#"}},
                          ScanIndexForward=False, Limit=limit)
        return [json.loads(i["doc"]["S"]) for i in reversed(page.get("Items", []))]
