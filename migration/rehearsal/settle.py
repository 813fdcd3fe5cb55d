"""After the load stops: wait for every accepted soundbite to settle, then count them."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from soundbite.core.domain import Status
from soundbite.core.repository import SoundbiteRepository

SETTLED = (Status.READY, Status.FAILED)


@dataclass(frozen=True)
class SoundbiteTally:
    accepted: int
    ready: int
    failed: int
    lost: int
    duplicates: int
    records: int

    def as_dict(self) -> dict:
        return asdict(self)


def settle(repository: SoundbiteRepository, ids: list[str], timeout: float,
           sleep=time.sleep, now=time.monotonic, progress=None) -> dict[str, Status | None]:
    """Poll until every id is ready or failed, or until `timeout`; returns the last statuses."""
    statuses: dict[str, Status | None] = dict.fromkeys(ids)
    deadline = now() + timeout
    while True:
        for soundbite_id, status in statuses.items():
            if status not in SETTLED:
                record = repository.get(soundbite_id)
                statuses[soundbite_id] = record.status if record else None
        settled = sum(s in SETTLED for s in statuses.values())
        if progress:
            progress(settled, len(ids))
        if settled == len(ids) or now() >= deadline:
            return statuses
        sleep(0.5)


def count_records(ddb, table: str, user_id: str) -> int:
    """The records `user_id` owns (the load's; the judge's synthetic user keeps its own)."""
    total, kwargs = 0, {"TableName": table, "Select": "COUNT", "FilterExpression": "userId = :u",
                        "ExpressionAttributeValues": {":u": {"S": user_id}}}
    while True:
        page = ddb.scan(**kwargs)
        total += page["Count"]
        if "LastEvaluatedKey" not in page:
            return total
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def tally(statuses: dict[str, Status | None], records: int, key_conflicts: int) -> SoundbiteTally:
    """Lost: accepted but never settled. Duplicates: records beyond one per accepted key."""
    ready = sum(s is Status.READY for s in statuses.values())
    failed = sum(s is Status.FAILED for s in statuses.values())
    return SoundbiteTally(
        accepted=len(statuses), ready=ready, failed=failed,
        lost=len(statuses) - ready - failed,
        duplicates=max(0, records - len(statuses)) + key_conflicts,
        records=records,
    )
