"""Turns what the handler raises into a per-message result: acknowledge, or leave for redelivery.

The poller deletes the messages whose result is acknowledged; Lambda reports the others as
`batchItemFailures`. One message's failure never affects another's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from worker.exceptions import MalformedMessage, WorkerError
from worker.handler import JobHandler, Outcome
from worker.messages import QueueMessage, parse_job
from worker.metrics import JobMeasurements

log = logging.getLogger("soundbite.worker")


@dataclass(frozen=True)
class MessageResult:
    message: QueueMessage
    outcome: Outcome
    error: str | None = None

    @property
    def acknowledged(self) -> bool:
        return self.outcome.acknowledged


class BatchProcessor:
    def __init__(self, handler: JobHandler) -> None:
        self.handler = handler

    def process(self, message: QueueMessage) -> MessageResult:
        """The result of one message; never raises."""
        try:
            job = parse_job(message)
        except MalformedMessage as exc:
            return self._drop_malformed(message, exc)
        try:
            return MessageResult(message, self.handler.handle(job))
        except WorkerError as exc:
            return MessageResult(message, Outcome.RETRY, f"{exc.code}: {exc}")
        except Exception as exc:
            log.exception("job raised an unexpected error; leaving it for redelivery",
                          extra={"messageId": message.message_id})
            return MessageResult(message, Outcome.RETRY, f"unexpected: {type(exc).__name__}")

    def process_batch(self, messages: Iterable[QueueMessage]) -> list[MessageResult]:
        return [self.process(message) for message in messages]

    def _drop_malformed(self, message: QueueMessage, exc: MalformedMessage) -> MessageResult:
        # No soundbite to mark failed, and no retry can fix the body: acknowledge and say so.
        error = f"{exc.code}: {exc}"
        log.warning("dropping a malformed message", extra={
            "messageId": message.message_id, "receiveCount": message.receive_count, "reason": error})
        if self.handler.metrics is not None:
            self.handler.metrics.job(JobMeasurements(
                outcome=Outcome.DROPPED.value, soundbite_id="-", correlation_id="-",
                receive_count=message.receive_count, error=error))
        return MessageResult(message, Outcome.DROPPED, error)


def batch_item_failures(results: Iterable[MessageResult]) -> dict:
    """Lambda's partial batch response: the messages to leave on the queue."""
    return {"batchItemFailures": [
        {"itemIdentifier": r.message.message_id} for r in results if not r.acknowledged]}
