"""DynamoDB persistence of soundbites with the seed's key design and guarded transitions."""

from __future__ import annotations

from decimal import Decimal

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from soundbite import spec
from soundbite.core import aws
from soundbite.core.domain import Soundbite, Status, position_shape_ok, utcnow_iso
from soundbite.core.exceptions import DependencyUnavailable, StateConflict, StorageRejected

ITEM_MAX_BYTES = 400 * 1024  # DynamoDB's item size limit
CLIENT_FAULTS = frozenset({"ValidationException"})
"""Error codes that say the values sent are at fault, not the store: 400, never 503."""

_ser = TypeSerializer()
_de = TypeDeserializer()

# Domain field -> DynamoDB attribute.
ATTRIBUTES = {
    "id": "id", "environment": "environment", "text": "text", "voice": "voice",
    "format": "format", "status": "status", "created_at": "createdAt", "updated_at": "updatedAt",
    "user_id": "userId", "audio_key": "audioKey", "audio_bytes": "audioBytes",
    "duration_seconds": "durationSeconds", "failure_reason": "failureReason",
    "expires_at": spec.SOUNDBITES_TABLE.ttl_attribute,
}


def to_item(soundbite: Soundbite) -> dict:
    item = {"pk": soundbite.pk, "sk": soundbite.sk}
    for field, attr in ATTRIBUTES.items():
        value = getattr(soundbite, field)
        if value is None:
            continue  # absent, so the sparse user index holds only soundbites with a user
        item[attr] = Decimal(str(value)) if isinstance(value, float) else value
    if soundbite.user_id:
        item["environmentCreatedAt"] = f"{soundbite.environment}#{soundbite.created_at}"
    return {k: _ser.serialize(v) for k, v in item.items()}


def from_item(item: dict) -> Soundbite:
    raw = {k: _de.deserialize(v) for k, v in item.items()}
    data = {field: raw.get(attr) for field, attr in ATTRIBUTES.items()}
    for field in ("audio_bytes", "expires_at"):
        if data[field] is not None:
            data[field] = int(data[field])
    if data["duration_seconds"] is not None:
        data["duration_seconds"] = float(data["duration_seconds"])
    return Soundbite.from_dict(data)


class SoundbiteRepository:
    """Reads and conditional writes of soundbite records in one environment."""

    def __init__(self, table: str, environment: str, client=None) -> None:
        self.table = table
        self.environment = environment
        self._client = client

    client = aws.LazyClient("dynamodb")

    def _key(self, soundbite_id: str) -> dict:
        return {
            "pk": {"S": f"{self.environment}:{soundbite_id}"},
            "sk": {"S": f"SOUNDBITE#{soundbite_id}"},
        }

    def _call(self, operation: str, **kwargs) -> dict:
        try:
            return getattr(self.client, operation)(TableName=self.table, **kwargs)
        except aws.AWS_ERRORS as exc:
            code = aws.error_code(exc)
            if code == "ConditionalCheckFailedException":
                raise StateConflict(f"{operation} refused by its condition") from exc
            if code in CLIENT_FAULTS:
                raise StorageRejected(f"{operation} refused a value ({code})") from exc
            raise DependencyUnavailable("dynamodb", f"{operation} failed ({aws.error_code(exc)})") from exc

    @staticmethod
    def check(soundbite: Soundbite) -> None:
        """Raise StorageRejected for a record DynamoDB would refuse (text that cannot be
        encoded, an item over the size limit), so a create can refuse it before it queues
        the job."""
        size = 0
        for name, value in to_item(soundbite).items():
            raw = value.get("S", value.get("N", ""))
            try:
                size += len(name) + len(raw.encode("utf-8"))
            except UnicodeEncodeError:
                raise StorageRejected(f"{name} is not valid UTF-8 text") from None
        if size > ITEM_MAX_BYTES:
            raise StorageRejected(f"the record would be {size} bytes; at most {ITEM_MAX_BYTES}")

    @staticmethod
    def check_position(position: object) -> dict:
        """A list position (from a cursor) of the right shape, or StorageRejected."""
        if not position_shape_ok(position):
            raise StorageRejected("the list position is not one this service made")
        return position

    def create(self, soundbite: Soundbite) -> None:
        self._call(
            "put_item", Item=to_item(soundbite), ConditionExpression="attribute_not_exists(pk)"
        )

    def get(self, soundbite_id: str, consistent: bool = True) -> Soundbite | None:
        item = self._call("get_item", Key=self._key(soundbite_id), ConsistentRead=consistent)
        return from_item(item["Item"]) if "Item" in item else None

    def _transition(self, soundbite_id: str, status: Status, allowed_from: tuple[Status, ...],
                    extra: dict | None = None) -> Soundbite:
        values = {":new": status.value, ":now": utcnow_iso(), **(extra or {})}
        sets = ["#s = :new", "updatedAt = :now"] + [f"{k[1:]} = {k}" for k in (extra or {})]
        froms = ", ".join(f":from{i}" for i in range(len(allowed_from)))
        values.update({f":from{i}": s.value for i, s in enumerate(allowed_from)})
        result = self._call(
            "update_item",
            Key=self._key(soundbite_id),
            UpdateExpression="SET " + ", ".join(sets),
            ConditionExpression=f"attribute_exists(pk) AND #s IN ({froms})",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={k: _ser.serialize(_decimal(v)) for k, v in values.items()},
            ReturnValues="ALL_NEW",
        )
        return from_item(result["Attributes"])

    def mark_processing(self, soundbite_id: str) -> Soundbite:
        # Processing -> processing is allowed: a redelivered message after a worker crash.
        return self._transition(soundbite_id, Status.PROCESSING, (Status.PENDING, Status.PROCESSING))

    def mark_ready(self, soundbite_id: str, audio_key: str, size: int, duration: float) -> Soundbite:
        return self._transition(
            soundbite_id, Status.READY, (Status.PENDING, Status.PROCESSING),
            {":audioKey": audio_key, ":audioBytes": size, ":durationSeconds": duration},
        )

    def mark_failed(self, soundbite_id: str, reason: str) -> Soundbite:
        return self._transition(
            soundbite_id, Status.FAILED, (Status.PENDING, Status.PROCESSING),
            {":failureReason": reason[:500]},
        )

    def reopen_failed(self, soundbite_id: str, reason_prefix: str) -> str | None:
        """Put a `failed` soundbite whose reason starts with `reason_prefix` back to `pending`
        (a person retries it); its old reason, or None when it is not one (left alone)."""
        try:
            result = self._call(
                "update_item", Key=self._key(soundbite_id),
                UpdateExpression="SET #s = :pending, updatedAt = :now REMOVE failureReason",
                ConditionExpression=("attribute_exists(pk) AND #s = :failed "
                                     "AND begins_with(failureReason, :prefix)"),
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":pending": {"S": Status.PENDING.value}, ":failed": {"S": Status.FAILED.value},
                    ":prefix": {"S": reason_prefix}, ":now": {"S": utcnow_iso()}},
                ReturnValues="ALL_OLD")
        except StateConflict:
            return None
        return result["Attributes"]["failureReason"]["S"]

    def list_by_user(self, user_id: str, limit: int, start: dict | None = None
                     ) -> tuple[list[Soundbite], dict | None]:
        """A user's soundbites in this environment, newest first, and the next position."""
        kwargs = {
            "IndexName": spec.USER_ENVIRONMENT_INDEX,
            "KeyConditionExpression": "userId = :u AND begins_with(environmentCreatedAt, :e)",
            "ExpressionAttributeValues": {
                ":u": {"S": user_id}, ":e": {"S": f"{self.environment}#"},
            },
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if start:
            start = self.check_position(start)
            kwargs["ExclusiveStartKey"] = {k: {"S": v} for k, v in start.items()}
        result = self._call("query", **kwargs)
        items = [from_item(i) for i in result.get("Items", [])]
        last = result.get("LastEvaluatedKey")
        position = {k: _de.deserialize(v) for k, v in last.items()} if last else None
        return items, position


def _decimal(value):
    return Decimal(str(value)) if isinstance(value, float) else value
