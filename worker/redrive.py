"""DLQ inspection and redrive: move dead letters back to the jobs queue, with backoff.

A redriven message keeps its attributes and gains three: `redriveCount`, `originalMessageId`
and `redrivenAt`. Its delay doubles with each redrive (`backoff_delay`), so a message that
keeps failing comes back less and less often; past the spec's maximum it is refused and stays
in the DLQ for a person, and its soundbite is marked failed with the reason, so no soundbite
stays `processing` for good. A message leaves the DLQ only after its copy was sent.

Where no schedule redrives (production), the worker ends a job at its last receive: it marks
the soundbite failed with a reason starting `GAVE_UP_FOR_NOW` and lets the message go to the
DLQ. Redriving such a message is a person's decision to try again, so the redrive first puts
its soundbite back to `pending` (`SoundbiteRepository.reopen_failed`); a soundbite failed for any other reason
(bad text, an unknown voice) stays failed, and the worker acknowledges its copy without work.

SQS has no read-only receive. `inspect` peeks with a visibility timeout of 0 (nothing is
hidden, and it shows the receive counts read before its own look); `redrive` hides what it
works on for a short while and releases every message it does not move before it returns.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from soundbite import spec
from soundbite.core import aws
from worker.exceptions import MalformedMessage, RedriveError, RedriveRefused
from worker.messages import (
    ORIGINAL_MESSAGE_ID,
    REDRIVE_COUNT,
    REDRIVEN_AT,
    QueueMessage,
    from_sqs,
    parse_job,
)
from worker.metrics import WorkerMetrics

log = logging.getLogger("soundbite.redrive")

PEEK_VISIBILITY_SECONDS = 30
"""How long a peeked message stays hidden if this process dies before releasing it."""
RECEIVE_WAIT_SECONDS = 1
"""Short long-poll: asks every SQS server, so an empty answer means the DLQ has no more."""
SUMMARY_CHARS = 80
DEFAULT_LIMIT = 100
"""Messages one run looks at unless told otherwise (`--max`)."""
ATTRIBUTE_FIELDS = ("DataType", "StringValue", "BinaryValue")

REDRIVE = "redrive"
REFUSE = "refuse"
ERROR = "error"


def backoff_delay(redrive_count: int, base: int = spec.REDRIVE_BASE_DELAY_SECONDS,
                  ceiling: int = spec.REDRIVE_MAX_DELAY_SECONDS) -> int:
    """Seconds before the next delivery of a message already redriven `redrive_count` times."""
    return min(ceiling, base * 2 ** redrive_count)


GAVE_UP_FOR_NOW = "gave up for now"
"""How the reason of a soundbite the worker failed at its last receive before the DLQ, in an
environment with no scheduled redrive, begins: a redrive of its message may reopen it."""


def check_allowed(environment: str, confirmed: bool) -> None:
    """Production redrives only by a person who said so (`--yes`): never on a schedule."""
    if not spec.scheduled_redrive(environment) and not confirmed:
        raise RedriveRefused(
            f"refusing to redrive in {spec.PRODUCTION!r} without --yes (production redrives are manual)")


@dataclass(frozen=True)
class DlqEntry:
    """One dead letter, as `dlq inspect` shows it."""

    message_id: str
    soundbite_id: str | None
    receives: int  # before this peek
    redrive_count: int
    age_seconds: float | None
    summary: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Decision:
    """What the redrive did (or, in a dry run, would do) with one message."""

    message_id: str
    action: str  # REDRIVE, REFUSE or ERROR
    redrive_count: int  # after this redrive
    delay_seconds: int | None = None
    new_message_id: str | None = None
    reason: str | None = None


@dataclass
class RedriveReport:
    dry_run: bool
    decisions: list[Decision] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for d in self.decisions if d.action == action)

    def to_dict(self) -> dict:
        return {
            "dryRun": self.dry_run, "redriven": self.count(REDRIVE), "refused": self.count(REFUSE),
            "errors": self.count(ERROR), "messages": [asdict(d) for d in self.decisions],
        }


class DlqRedriver:
    def __init__(self, dlq_url: str, queue_url: str, client=None, *,
                 max_redrives: int = spec.REDRIVE_MAX_COUNT,
                 base_delay: int = spec.REDRIVE_BASE_DELAY_SECONDS,
                 max_delay: int = spec.REDRIVE_MAX_DELAY_SECONDS,
                 metrics: WorkerMetrics | None = None, repository=None, now=time.time) -> None:
        self.dlq_url = dlq_url
        self.repository = repository
        """A SoundbiteRepository: refused messages mark their soundbite failed (None: they do not)."""
        self.queue_url = queue_url
        self.max_redrives = max_redrives
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.metrics = metrics
        self._client = client
        self._now = now

    client = aws.LazyClient("sqs")

    def depth(self) -> int:
        """Approximately how many messages wait in the DLQ (visible ones)."""
        try:
            attrs = self.client.get_queue_attributes(
                QueueUrl=self.dlq_url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
        except aws.AWS_ERRORS as exc:
            raise RedriveError(f"could not read the DLQ ({aws.error_code(exc)})") from exc
        return int(attrs.get("ApproximateNumberOfMessages", 0))

    # --- inspect -----------------------------------------------------------------------------

    def inspect(self, limit: int) -> list[DlqEntry]:
        """Up to `limit` dead letters, left in the DLQ and never hidden.

        SQS has no read-only receive (GetQueueAttributes counts messages but shows none), and
        every receive adds one to a message's ApproximateReceiveCount. So the peek asks for a
        visibility timeout of 0, which leaves each message visible to the redrive and the
        alarms while it is looked at and needs no release, and each entry shows the count
        read before this peek. The count still rises by one per look; nothing decides on it
        (the redrive counts redrives in its own attribute).
        """
        messages: list[QueueMessage] = []
        while len(messages) < limit:
            batch = self._receive(limit - len(messages), {m.message_id for m in messages},
                                  visibility=0)
            if not batch:
                break  # visible messages come back at once: nothing new means seen them all
            messages.extend(batch)
        return [self._entry(m) for m in messages[:limit]]

    def _entry(self, message: QueueMessage) -> DlqEntry:
        try:
            body = json.loads(message.body)
            soundbite_id = body.get("id") if isinstance(body, dict) else None
        except ValueError:
            soundbite_id = None
        summary = message.body if len(message.body) <= SUMMARY_CHARS else message.body[:SUMMARY_CHARS - 1] + "…"
        return DlqEntry(
            message_id=message.message_id,
            soundbite_id=soundbite_id if isinstance(soundbite_id, str) else None,
            receives=max(0, message.receive_count - 1),
            redrive_count=message.redrive_count,
            age_seconds=round(self._now() - message.sent_at, 1) if message.sent_at else None,
            summary=summary,
        )

    # --- redrive -----------------------------------------------------------------------------

    def redrive(self, limit: int, dry_run: bool = False,
                progress: Callable[[Decision], None] | None = None) -> RedriveReport:
        """Move up to `limit` dead letters back to the jobs queue (or say what would move)."""
        report = RedriveReport(dry_run=dry_run)
        held: list[QueueMessage] = []  # stays in the DLQ; released at the end
        seen: set[str] = set()
        try:
            while len(report.decisions) < limit:
                batch = self._receive(limit - len(report.decisions), seen)
                if not batch:
                    break
                for message in batch:
                    seen.add(message.message_id)
                    decision = self._decide(message)
                    if decision.action == REDRIVE and not dry_run:
                        decision = self._move(message, decision)
                    if decision.action == REFUSE and not dry_run:
                        self._end(message, decision)
                    if decision.action != REDRIVE or dry_run:
                        held.append(message)
                    report.decisions.append(decision)
                    if progress:
                        progress(decision)
        finally:
            self._release(held)
        if self.metrics is not None and not dry_run:  # a dry run moved nothing to count
            self.metrics.redrive(report.count(REDRIVE), report.count(REFUSE), report.count(ERROR), dry_run)
        log.info("redrive finished", extra=report.to_dict() | {"messages": len(report.decisions)})
        return report

    def _decide(self, message: QueueMessage) -> Decision:
        done = message.redrive_count
        if done >= self.max_redrives:
            return Decision(message.message_id, REFUSE, done,
                            reason=f"already redriven {done} times (maximum {self.max_redrives})")
        return Decision(message.message_id, REDRIVE, done + 1,
                        delay_seconds=backoff_delay(done, self.base_delay, self.max_delay))

    def _end(self, message: QueueMessage, decision: Decision) -> None:
        """Mark the refused message's soundbite failed: no attempt will come after this."""
        from soundbite.core.exceptions import DependencyUnavailable, StateConflict

        if self.repository is None:
            return
        try:
            job = parse_job(message)
        except MalformedMessage:
            return
        if job.environment != self.repository.environment:
            return
        reason = (f"gave up: every retry failed and the dead letter was {decision.reason}; "
                  f"it stays in the DLQ for a person")
        try:
            self.repository.mark_failed(job.soundbite_id, reason)
        except StateConflict:
            return  # ready, failed or gone already
        except DependencyUnavailable as exc:
            log.warning("could not mark a refused soundbite failed; the next run tries again",
                        extra={"soundbiteId": job.soundbite_id, "error": str(exc)})
            return
        log.info("refused soundbite marked failed", extra={"soundbiteId": job.soundbite_id})

    def _reopen(self, message: QueueMessage) -> tuple[str, str] | None:
        """Reopen the message's soundbite if the worker gave up on it for now: (id, old reason)."""
        if self.repository is None:
            return None
        try:
            job = parse_job(message)
        except MalformedMessage:
            return None
        if job.environment != self.repository.environment:
            return None
        old = self.repository.reopen_failed(job.soundbite_id, GAVE_UP_FOR_NOW)
        if old is None:
            return None
        log.info("reopened a soundbite the worker gave up on", extra={"soundbiteId": job.soundbite_id})
        return job.soundbite_id, old

    def _unreopen(self, reopened: tuple[str, str] | None) -> None:
        """The copy was not sent: the soundbite is failed again, as it was."""
        from soundbite.core.exceptions import DependencyUnavailable, StateConflict

        if reopened is None:
            return
        try:
            self.repository.mark_failed(*reopened)
        except (StateConflict, DependencyUnavailable) as exc:
            log.warning("could not mark a reopened soundbite failed again; the next redrive moves it",
                        extra={"soundbiteId": reopened[0], "error": str(exc)})

    def _move(self, message: QueueMessage, decision: Decision) -> Decision:
        from soundbite.core.exceptions import DependencyUnavailable

        # Reopen first: a copy delivered to a soundbite still `failed` would be acknowledged
        # without work, and the retry the person asked for would be lost.
        try:
            reopened = self._reopen(message)
        except DependencyUnavailable as exc:
            return Decision(message.message_id, ERROR, decision.redrive_count - 1,
                            reason=f"could not reopen its soundbite ({exc}); left in the DLQ")
        attributes = {
            name: {k: v for k, v in value.items() if k in ATTRIBUTE_FIELDS}
            for name, value in message.raw_attributes.items()
        }
        attributes[REDRIVE_COUNT] = {"DataType": "Number", "StringValue": str(decision.redrive_count)}
        attributes[ORIGINAL_MESSAGE_ID] = {
            "DataType": "String",
            "StringValue": message.attributes.get(ORIGINAL_MESSAGE_ID) or message.message_id,
        }
        attributes[REDRIVEN_AT] = {
            "DataType": "String",
            "StringValue": datetime.fromtimestamp(self._now(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        try:
            sent = self.client.send_message(
                QueueUrl=self.queue_url, MessageBody=message.body,
                MessageAttributes=attributes, DelaySeconds=decision.delay_seconds)
        except aws.AWS_ERRORS as exc:
            self._unreopen(reopened)
            return Decision(message.message_id, ERROR, decision.redrive_count - 1,
                            reason=f"send failed ({aws.error_code(exc)}); left in the DLQ")
        try:
            self.client.delete_message(QueueUrl=self.dlq_url, ReceiptHandle=message.receipt_handle)
        except aws.AWS_ERRORS as exc:
            # Sent but not deleted: it reappears in the DLQ, and the worker skips the
            # soundbite if the copy already finished it.
            return Decision(message.message_id, REDRIVE, decision.redrive_count, decision.delay_seconds,
                            sent["MessageId"], reason=f"delete failed ({aws.error_code(exc)})")
        return Decision(message.message_id, REDRIVE, decision.redrive_count, decision.delay_seconds,
                        sent["MessageId"])

    # --- receiving ---------------------------------------------------------------------------

    def _receive(self, count: int, seen: set[str],
                 visibility: int = PEEK_VISIBILITY_SECONDS) -> list[QueueMessage]:
        """Up to `count` messages not in `seen`, hidden for `visibility` seconds."""
        try:
            response = self.client.receive_message(
                QueueUrl=self.dlq_url,
                MaxNumberOfMessages=min(spec.RECEIVE_BATCH_SIZE, count),
                WaitTimeSeconds=RECEIVE_WAIT_SECONDS,
                VisibilityTimeout=visibility,
                AttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
                MessageAttributeNames=["All"],
            )
        except aws.AWS_ERRORS as exc:
            raise RedriveError(f"could not read the DLQ ({aws.error_code(exc)})") from exc
        return [m for m in map(from_sqs, response.get("Messages", [])) if m.message_id not in seen]

    def _release(self, messages: list[QueueMessage]) -> None:
        for message in messages:
            try:
                self.client.change_message_visibility(
                    QueueUrl=self.dlq_url, ReceiptHandle=message.receipt_handle, VisibilityTimeout=0)
            except aws.AWS_ERRORS as exc:
                log.warning("could not release a DLQ message; it reappears after its peek timeout",
                            extra={"messageId": message.message_id, "error": aws.error_code(exc)})
