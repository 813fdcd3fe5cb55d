"""An idempotency record: who holds a key, in what state, until when, and what it answered."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum


class RecordStatus(StrEnum):
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"


@dataclass(frozen=True)
class StoredResponse:
    """The exact status, body and content headers a completed request answered."""

    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"status": self.status, "body": self.body, "headers": self.headers},
                          separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str) -> StoredResponse:
        data = json.loads(raw)
        return cls(int(data["status"]), data["body"], dict(data.get("headers") or {}))


@dataclass(frozen=True)
class IdempotencyRecord:
    key: str
    status: RecordStatus
    payload_hash: str
    expiry: float
    """Epoch seconds. In progress: the lease end. Completed: when the record is forgotten."""
    token: str
    """Identifies the request that took the key, so only it may complete or release it."""
    response: StoredResponse | None = None

    def is_expired(self, now: float) -> bool:
        return self.expiry <= now

    def retry_after(self, now: float) -> int:
        """Whole seconds until an in-progress record's lease runs out (at least 1)."""
        return max(1, int(self.expiry - now + 0.999))
