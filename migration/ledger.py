"""The migration ledger in DynamoDB: a fenced lease, the run's state, and its appended events.

Item layout (table `spec.MIGRATION_LEDGER_TABLE`, keys pk/sk):

| pk | sk | attributes |
|---|---|---|
| `LOCK#<stack>` | `STATE` | `owner`, `version` (the fencing token), `operator`, `acquiredAt`, `expiresAt` |
| `RUN#<stack>` | `STATE` | `runId`, `updatedAt`, `revision`, `doc` (JSON: status, steps, weights, pending, abort...) |
| `RUN#<stack>` | `EVENT#<epoch ms, 15 digits>#<seq>#<owner>` | `runId`, `kind`, `at`, `doc` (JSON evidence) |

Every acquisition, forcible or not, increments `version`. A holder's writes go through
`commit`, one transaction that checks the lock still carries its owner and version, writes the
state and appends the event; a run whose lease was taken over (an operator's rollback) can
therefore never write again, whatever it believed. Expiry only decides who may *take* a lease;
fencing is by version.

The state document is read, merged and written back conditional on its `revision`, so two
writers (a run and `approve`, a run and an operator's rollback) never lose each other's
fields: the later one merges again. Once the state says `aborted`, only a rollback (which
keeps the first abort's record) and `retry` may write it; anything else is refused.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator

from botocore.exceptions import BotoCoreError, ClientError

from migration.exceptions import (
    AbortedError,
    AbortedUnderRunError,
    LeaseLostError,
    LockHeldError,
    MigrationError,
)
from soundbite import spec

STATE = "STATE"
ABORTED = "aborted"
"""The sticky status a rollback leaves (Argo Rollouts' abort): cleared only by `retry`."""
STATE_WRITE_ATTEMPTS = 5
"""Merges retried when another writer changed the state between our read and our write."""
CONFLICT_BACKOFF_SECONDS = 0.05
"""After a TransactionConflict, wait this times the attempt number before writing again."""


def _cancelled(exc: ClientError) -> list[bool]:
    """Per transaction item, whether its condition failed (empty when DynamoDB did not say)."""
    return [r.get("Code") == "ConditionalCheckFailed"
            for r in exc.response.get("CancellationReasons") or []]


def _failed_condition(exc: ClientError) -> bool:
    error = exc.response.get("Error", {}).get("Code")
    if error == "ConditionalCheckFailedException":
        return True
    reasons = exc.response.get("CancellationReasons") or []
    return error == "TransactionCanceledException" and any(
        r.get("Code") == "ConditionalCheckFailed" for r in reasons)


def _conflicted(exc: ClientError) -> bool:
    """DynamoDB cancelled the transaction because another one touched the same item at the
    same moment (no condition failed): safe to try again."""
    reasons = exc.response.get("CancellationReasons") or []
    return any(r.get("Code") == "TransactionConflict" for r in reasons) and not any(
        r.get("Code") == "ConditionalCheckFailed" for r in reasons)


def _unchanged_since(revision: int | None) -> dict:
    """The condition that the state item is still the one read at `revision`."""
    if revision is None:
        return {"ConditionExpression": "attribute_not_exists(pk)"}
    if revision == 0:
        return {"ConditionExpression": "attribute_not_exists(revision)"}
    return {"ConditionExpression": "revision = :rev",
            "ExpressionAttributeValues": {":rev": {"N": str(revision)}}}


def default_operator() -> str:
    """Who is acting, for the events: the local user and host."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


class Ledger:
    def __init__(self, table: str, stack: str, client=None, owner: str | None = None,
                 now: Callable[[], float] = time.time,
                 lease_seconds: float = spec.LEDGER_LEASE_SECONDS,
                 operator: str | Callable[[], str | None] | None = None):
        self.table, self.stack = table, stack
        self._client = client
        self.owner = owner or f"run-{uuid.uuid4().hex[:12]}"
        self._operator = operator
        self.now = now
        self.lease_seconds = lease_seconds
        self.fence: int | None = None
        """The lease version this run holds; None when it holds no lease."""
        self.lost = False
        """Set by `keep_alive` when a renewal found the lease taken over."""
        self._renewed_at = 0.0
        self._seq = 0
        self._lock = threading.Lock()

    @property
    def operator(self) -> str:
        """Who acts, for the events; a lookup (the caller's STS identity) runs on first use, so
        a rollback moves traffic before it asks anyone who it is."""
        if callable(self._operator):
            self._operator = self._operator()
        if not self._operator:
            self._operator = default_operator()
        return self._operator

    @operator.setter
    def operator(self, value: str | Callable[[], str | None] | None) -> None:
        self._operator = value

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
    def state_key(self) -> dict:
        return {"pk": {"S": self.run_pk}, "sk": {"S": STATE}}

    @property
    def run_pk(self) -> str:
        return f"RUN#{self.stack}"

    def _call(self, method: str, **kwargs):
        if method != "transact_write_items":
            kwargs["TableName"] = self.table
        try:
            return getattr(self.client, method)(**kwargs)
        except ClientError as exc:
            if _failed_condition(exc) or _conflicted(exc):
                raise
            raise MigrationError(f"ledger table {self.table}: {exc}") from exc
        except BotoCoreError as exc:
            raise MigrationError(f"ledger table {self.table}: {exc}") from exc

    # --- lease --------------------------------------------------------------------------

    def _take(self, condition: str | None) -> dict:
        now = self.now()
        kwargs = dict(
            Key=self.lock_key, ReturnValues="ALL_NEW",
            UpdateExpression="SET #o = :me, runId = :me, #op = :op, acquiredAt = :now, "
                             "expiresAt = :exp ADD #v :one",
            ExpressionAttributeNames={"#o": "owner", "#op": "operator", "#v": "version"},
            ExpressionAttributeValues={":me": {"S": self.owner}, ":op": {"S": self.operator},
                                       ":now": {"N": repr(now)}, ":one": {"N": "1"},
                                       ":exp": {"N": repr(now + self.lease_seconds)}})
        if condition:
            kwargs["ConditionExpression"] = condition
        item = self._call("update_item", **kwargs)["Attributes"]
        self.fence, self.lost, self._renewed_at = int(item["version"]["N"]), False, now
        return item

    def acquire(self) -> int:
        """Take the stack's lease (free, expired, or already ours); returns the fencing token."""
        try:
            self._take("attribute_not_exists(pk) OR expiresAt < :now OR #o = :me")
        except ClientError as exc:
            holder = self.holder() or {}
            left = max(0.0, holder.get("expiresAt", self.now()) - self.now())
            raise LockHeldError(f"another run ({holder.get('owner', 'unknown')}, "
                                f"{holder.get('operator') or 'unknown operator'}) holds the lock on "
                                f"{self.stack} for {left:.0f} more s") from exc
        return self.fence

    def acquire_forcibly(self) -> str | None:
        """Take the lease whoever holds it (rollback must win); returns the previous owner.

        The version moves on, so the previous holder's next fenced write fails."""
        previous = self.holder()
        self._take(None)
        if previous and previous["owner"] != self.owner:
            return previous["owner"]
        return None

    def renew(self) -> None:
        """Extend the lease; LeaseLostError if another run or an operator took it over."""
        if self.fence is None:
            raise LeaseLostError(f"this run holds no lease on {self.stack}")
        now = self.now()
        try:
            self._call("update_item", Key=self.lock_key, UpdateExpression="SET expiresAt = :exp",
                       ConditionExpression="#o = :me AND #v = :v",
                       ExpressionAttributeNames={"#o": "owner", "#v": "version"},
                       ExpressionAttributeValues={":exp": {"N": repr(now + self.lease_seconds)},
                                                  ":me": {"S": self.owner},
                                                  ":v": {"N": str(self.fence)}})
        except ClientError as exc:
            self.lost = True
            raise LeaseLostError(f"this run lost the lock on {self.stack}: "
                                 "another run or an operator took it over") from exc
        self._renewed_at = now

    def hold(self) -> None:
        """Renew between waits: a takeover raises at once, an outage only once the lease is
        about to lapse (botocore's retries absorb a blip; a persistent outage must not)."""
        try:
            self.renew()
        except LeaseLostError:
            raise
        except MigrationError:
            if self.now() - self._renewed_at >= self.lease_seconds * 2 / 3:
                raise

    def keep_alive(self) -> None:
        """Renew when a third of the lease has passed; never raises (fencing happens at writes).

        Called between the polls of every long wait; a takeover sets `lost`, a ledger outage
        is left for the next fenced write to report."""
        if self.fence is None or self.lost:
            return
        if self.now() - self._renewed_at < self.lease_seconds / 3:
            return
        with self._lock, contextlib.suppress(LeaseLostError, MigrationError):
            self.renew()

    @contextlib.contextmanager
    def heartbeat(self, interval: float | None = None) -> Iterator[None]:
        """Renew the lease from a thread while a blocking call runs (`pulumi up`, INSYNC)."""
        stop = threading.Event()
        every = interval if interval is not None else max(self.lease_seconds / 6, 0.05)

        def beat() -> None:
            while not stop.wait(every):
                if self.fence is None or self.lost:
                    return
                with self._lock, contextlib.suppress(LeaseLostError, MigrationError):
                    self.renew()

        thread = threading.Thread(target=beat, name="lease-heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def release(self) -> None:
        if self.fence is None:
            return
        # Expire it rather than delete it, so the version (the fencing token) only grows.
        # A lease that is no longer ours has nothing to release.
        with contextlib.suppress(ClientError, MigrationError):
            self._call("update_item", Key=self.lock_key, UpdateExpression="SET expiresAt = :zero",
                       ConditionExpression="#o = :me AND #v = :v",
                       ExpressionAttributeNames={"#o": "owner", "#v": "version"},
                       ExpressionAttributeValues={":me": {"S": self.owner}, ":v": {"N": str(self.fence)},
                                                  ":zero": {"N": "0"}})
        self.fence = None

    def holder(self) -> dict | None:
        """The current lease (owner, operator, version, expiresAt) or None when free."""
        item = self._call("get_item", Key=self.lock_key, ConsistentRead=True).get("Item")
        if not item:
            return None
        expires = float(item["expiresAt"]["N"])
        if expires < self.now():
            return None
        return {"owner": item["owner"]["S"], "operator": item.get("operator", {}).get("S"),
                "version": int(item.get("version", {}).get("N", 0)), "expiresAt": expires,
                "expired": False}

    # --- run state and events -----------------------------------------------------------

    def read_state(self) -> dict:
        return self._read_state()[0]

    def _read_state(self) -> tuple[dict, int | None]:
        """The state document and its revision (None: no state yet, 0: written before revisions)."""
        item = self._call("get_item", Key=self.state_key, ConsistentRead=True).get("Item")
        if not item:
            return {}, None
        return json.loads(item["doc"]["S"]), int(item.get("revision", {}).get("N", 0))

    def commit(self, kind: str, state: dict | Callable[[dict], dict] | None = None, fenced: bool = True,
               over_abort: bool = False, **data) -> dict:
        """Append one event and (optionally) merge `state` into the run's state, atomically.

        While this run holds a lease the write is fenced: if the lease's owner or version
        moved on, nothing is written and LeaseLostError is raised. A state write over an
        aborted migration is refused unless it is a rollback's or `over_abort` (`retry`).
        `state` may be a function of the current state: it is called again with the fresh state
        when another writer got there first, so a change built from a read is never stale."""
        self._seq += 1
        at = self.now()
        event = {"kind": kind, "at": at, "runId": self.owner, "operator": self.operator, **data}
        items = [{"Put": {"TableName": self.table, "Item": {
            "pk": {"S": self.run_pk}, "sk": {"S": f"EVENT#{int(at * 1000):015d}#{self._seq:06d}#{self.owner}"},
            "runId": {"S": self.owner}, "kind": {"S": kind}, "at": {"N": repr(at)},
            "doc": {"S": json.dumps(event, default=str)}}}}]
        self._transact(items, state, at, fenced, over_abort)
        return event

    def _transact(self, items: list[dict], state: dict | Callable[[dict], dict] | None, at: float,
                  fenced: bool = True, over_abort: bool = False) -> dict:
        for attempt in range(STATE_WRITE_ATTEMPTS):
            merged, batch = {}, list(items)
            if state is not None:
                current, revision = self._read_state()
                change = state(current) if callable(state) else state
                merged = {**current, **self._over(current, change, over_abort), "runId": self.owner,
                          "updatedAt": at}
                batch.append({"Put": {
                    "TableName": self.table, "Item": {
                        **self.state_key, "runId": {"S": self.owner}, "updatedAt": {"N": repr(at)},
                        "revision": {"N": str((revision or 0) + 1)},
                        "doc": {"S": json.dumps(merged, default=str)}},
                    **_unchanged_since(revision)}})
            if fenced and self.fence is not None:
                batch.append({"ConditionCheck": {
                    "TableName": self.table, "Key": self.lock_key,
                    "ConditionExpression": "#o = :me AND #v = :v",
                    "ExpressionAttributeNames": {"#o": "owner", "#v": "version"},
                    "ExpressionAttributeValues": {":me": {"S": self.owner}, ":v": {"N": str(self.fence)}}}})
            try:
                self._call("transact_write_items", TransactItems=batch)
                return merged
            except ClientError as exc:
                if _conflicted(exc):  # another writer at the same instant: write again
                    time.sleep(CONFLICT_BACKOFF_SECONDS * (attempt + 1))
                    continue
                failed = _cancelled(exc)
                state_only = (state is not None and len(failed) == len(batch)
                              and failed[len(items)] and not any(failed[len(items) + 1:]))
                if not state_only:
                    self.lost = True
                    raise LeaseLostError(f"this run lost the lock on {self.stack}: another run or an "
                                         "operator took it over; nothing was written") from exc
                # Another writer changed the state since our read: merge again.
        raise MigrationError(f"ledger table {self.table}: the run's state kept changing under "
                             f"{STATE_WRITE_ATTEMPTS} attempts to write it; nothing was written")

    def _over(self, current: dict, state: dict, over_abort: bool) -> dict:
        """`state` as it may be merged over `current`: an abort is sticky."""
        if current.get("status") != ABORTED or over_abort:
            return state
        if state.get("status") == ABORTED:  # a second rollback: the first abort's record stays
            return {**state, "abort": current.get("abort") or state.get("abort")}
        abort = current.get("abort") or {}
        message = (f"the migration of {self.stack} was aborted by {abort.get('by', 'someone')}: "
                   f"{abort.get('reason', 'no reason recorded')}")
        if self.fence is not None:
            raise AbortedUnderRunError(f"{message}; this run stands down and writes nothing")
        raise AbortedError(f"{message}; run `soundbite migrate retry` to start again")

    def events(self, limit: int = 20) -> list[dict]:
        """The newest `limit` events, oldest first."""
        page = self._call("query", KeyConditionExpression="pk = :pk AND begins_with(sk, :ev)",
                          ExpressionAttributeValues={":pk": {"S": self.run_pk}, ":ev": {"S": "EVENT#"}},
                          ScanIndexForward=False, Limit=limit)
        return [json.loads(i["doc"]["S"]) for i in reversed(page.get("Items", []))]
