"""Queue messages in one neutral shape, and the job a message carries.

The poller gets messages from boto3 (`Body`, `MessageAttributes` with `StringValue`); Lambda
gets records in its own spelling (`body`, `messageAttributes` with `stringValue`). Both are
turned into a `QueueMessage` here, so the batch processor and the handler never see either.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from soundbite.core.domain import ID_PATTERN
from worker.exceptions import MalformedMessage

# Attributes the DLQ redrive adds to a message it sends back to the jobs queue.
REDRIVE_COUNT = "redriveCount"
ORIGINAL_MESSAGE_ID = "originalMessageId"
REDRIVEN_AT = "redrivenAt"
CORRELATION_ID = "correlationId"


@dataclass(frozen=True)
class QueueMessage:
    """One delivery of a message: what SQS or Lambda handed us, minus their spelling."""

    message_id: str
    body: str
    receipt_handle: str = ""
    receive_count: int = 1
    sent_at: float | None = None  # epoch seconds, from SentTimestamp
    attributes: dict[str, str] = field(default_factory=dict)  # message attributes, as strings
    raw_attributes: dict = field(default_factory=dict)  # as SQS returned them, to send back

    @property
    def redrive_count(self) -> int:
        try:
            return int(self.attributes.get(REDRIVE_COUNT, "0"))
        except ValueError:
            return 0


@dataclass(frozen=True)
class Job:
    """A synthesis job: which soundbite, in which environment, queued when."""

    soundbite_id: str
    environment: str
    enqueued_at: float | None
    correlation_id: str
    receive_count: int
    redrive_count: int


def from_sqs(message: dict) -> QueueMessage:
    """A message as boto3's ReceiveMessage returns it."""
    system = message.get("Attributes", {})
    raw = message.get("MessageAttributes", {}) or {}
    return QueueMessage(
        message_id=message["MessageId"],
        body=message.get("Body", ""),
        receipt_handle=message.get("ReceiptHandle", ""),
        receive_count=int(system.get("ApproximateReceiveCount", "1")),
        sent_at=_millis(system.get("SentTimestamp")),
        attributes={k: v.get("StringValue", "") for k, v in raw.items() if "StringValue" in v},
        raw_attributes=raw,
    )


def from_lambda_record(record: dict) -> QueueMessage:
    """A record of the SQS event Lambda passes to its handler."""
    system = record.get("attributes", {})
    raw = record.get("messageAttributes", {}) or {}
    return QueueMessage(
        message_id=record["messageId"],
        body=record.get("body", ""),
        receipt_handle=record.get("receiptHandle", ""),
        receive_count=int(system.get("ApproximateReceiveCount", "1")),
        sent_at=_millis(system.get("SentTimestamp")),
        attributes={k: v["stringValue"] for k, v in raw.items() if v.get("stringValue") is not None},
        raw_attributes={
            k: {"DataType": v.get("dataType", "String"), "StringValue": v["stringValue"]}
            for k, v in raw.items() if v.get("stringValue") is not None
        },
    )


def parse_job(message: QueueMessage) -> Job:
    """The job in a message body; MalformedMessage when the body is not one."""
    try:
        body = json.loads(message.body)
    except (ValueError, RecursionError) as exc:
        raise MalformedMessage(f"message {message.message_id} is not JSON") from exc
    if not isinstance(body, dict):
        raise MalformedMessage(f"message {message.message_id} is not a JSON object")
    soundbite_id, environment = body.get("id"), body.get("environment")
    if not isinstance(soundbite_id, str) or not ID_PATTERN.match(soundbite_id):
        raise MalformedMessage(f"message {message.message_id} has no valid soundbite id")
    if not isinstance(environment, str) or not environment:
        raise MalformedMessage(f"message {message.message_id} names no environment")
    enqueued = body.get("enqueuedAt")
    return Job(
        soundbite_id=soundbite_id,
        environment=environment,
        enqueued_at=float(enqueued) if isinstance(enqueued, int | float) else None,
        correlation_id=message.attributes.get(CORRELATION_ID, "-"),
        receive_count=message.receive_count,
        redrive_count=message.redrive_count,
    )


def _millis(value: str | None) -> float | None:
    try:
        return int(value) / 1000 if value else None
    except ValueError:
        return None
