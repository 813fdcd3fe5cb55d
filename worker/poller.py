"""The consumer loop: long-poll the jobs queue, run jobs on a bounded set of threads, delete
only what succeeded, keep long jobs invisible, and on shutdown release what cannot finish.

Three threads of control: the receiver (long polls, never asks for more messages than it has
free slots), the heartbeat (extends the visibility of jobs past half their timeout), and the
caller of `run`, which waits for the stop event and then drains within the grace period.
Job threads are daemons, so a job still running when the grace period ends cannot hold the
process: its message has been released, and another worker takes it.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass

from soundbite import spec
from soundbite.core import aws
from worker.batch import BatchProcessor, MessageResult
from worker.messages import QueueMessage, from_sqs

log = logging.getLogger("soundbite.worker")

SYSTEM_ATTRIBUTES = ["ApproximateReceiveCount", "SentTimestamp"]
RECEIVE_BACKOFF_SECONDS = (1, 2, 5, 10)  # after consecutive failed receives
HEARTBEATS_PER_TIMEOUT = 10  # how often the heartbeat looks, per visibility timeout


@dataclass
class PollerStats:
    received: int = 0
    acknowledged: int = 0
    retried: int = 0
    released: int = 0
    delete_failures: int = 0
    extended: int = 0
    unfinished_at_exit: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class InFlight:
    message: QueueMessage
    visible_until: float  # by the poller's clock
    released: bool = False


class Poller:
    def __init__(self, queue_url: str, processor: BatchProcessor, client=None, *,
                 concurrency: int = spec.WORKER_CONCURRENCY, prefetch: int = 0,
                 wait_seconds: int = spec.LONG_POLL_SECONDS,
                 visibility_timeout: int | None = None,
                 grace_seconds: float = spec.WORKER_GRACE_SECONDS,
                 now=time.monotonic) -> None:
        self.queue_url = queue_url
        self.processor = processor
        self.concurrency = concurrency
        self.slots = concurrency + prefetch
        """Messages held at once: the jobs running plus `prefetch` waiting for a synthesis slot."""
        self.wait_seconds = wait_seconds
        self.visibility_timeout = visibility_timeout
        self.grace_seconds = grace_seconds
        self.stats = PollerStats()
        self._client = client
        self._now = now
        self._in_flight: dict[str, InFlight] = {}  # by receipt handle
        self._deleting = 0  # finished jobs whose message is being deleted
        self._draining = False
        self._changed = threading.Condition()
        self._finished = threading.Event()

    @property
    def client(self):
        if self._client is None:
            from worker.factory import long_poll_sqs_client

            self._client = long_poll_sqs_client(self.wait_seconds)
        return self._client

    # --- the run -----------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> PollerStats:
        """Consume until `stop` is set, then drain; returns what happened."""
        if self.visibility_timeout is None:
            self.visibility_timeout = self.queue_visibility_timeout()
        receiver = threading.Thread(target=self._receive_loop, args=(stop,), name="receiver", daemon=True)
        heartbeat = threading.Thread(target=self._heartbeat_loop, name="heartbeat", daemon=True)
        receiver.start()
        heartbeat.start()
        log.info("worker started", extra={
            "queueUrl": self.queue_url, "concurrency": self.concurrency,
            "visibilityTimeout": self.visibility_timeout, "waitSeconds": self.wait_seconds})
        while not stop.wait(1.0):
            pass
        self._drain(receiver)
        self._finished.set()
        log.info("worker stopped", extra=self.stats.to_dict())
        return self.stats

    def queue_visibility_timeout(self) -> int:
        """The queue's own visibility timeout (provisioned from the spec), so both agree."""
        try:
            attrs = self.client.get_queue_attributes(
                QueueUrl=self.queue_url, AttributeNames=["VisibilityTimeout"])["Attributes"]
            return int(attrs["VisibilityTimeout"])
        except aws.AWS_ERRORS as exc:
            log.warning("could not read the queue's visibility timeout; using the spec's",
                        extra={"error": aws.error_code(exc)})
            return spec.VISIBILITY_TIMEOUT_SECONDS

    def _drain(self, receiver: threading.Thread) -> None:
        deadline = self._now() + self.grace_seconds
        log.info("stopping: finishing in-flight jobs", extra={
            "inFlight": len(self._in_flight), "graceSeconds": self.grace_seconds})
        with self._changed:
            self._draining = True
            while (self._in_flight or self._deleting) and self._now() < deadline:
                self._changed.wait(min(0.2, max(0.0, deadline - self._now())))
        # A long poll still open is waited out, past the grace if need be (it ends within
        # `wait_seconds`), and what it brings back is released at once (`_start`). Only then
        # are unfinished jobs released: SQS hands a message made visible to a poll still open,
        # and this process would die with it, hiding the message for the whole visibility
        # timeout (130 s). Local stacks poll for 1-2 s, so they still stop quickly.
        receiver.join(max(0.0, deadline - self._now(), self.wait_seconds + 1))
        with self._changed:
            unfinished = [job for job in self._in_flight.values() if not job.released]
            for job in unfinished:
                job.released = True
        self._release([job.message for job in unfinished])
        with self._changed:
            self.stats.unfinished_at_exit = len(self._in_flight)

    # --- receiving ---------------------------------------------------------------------------

    def _free_slots(self, stop: threading.Event) -> int:
        with self._changed:
            while len(self._in_flight) >= self.slots and not stop.is_set():
                self._changed.wait(0.5)
            return self.slots - len(self._in_flight)

    def _receive_loop(self, stop: threading.Event) -> None:
        failures = 0
        while not stop.is_set():
            free = self._free_slots(stop)
            if stop.is_set() or free <= 0:
                continue
            try:
                response = self.client.receive_message(
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=min(spec.RECEIVE_BATCH_SIZE, free),
                    WaitTimeSeconds=self.wait_seconds,
                    AttributeNames=SYSTEM_ATTRIBUTES,
                    MessageAttributeNames=["All"],
                )
                messages = [from_sqs(m) for m in response.get("Messages", [])]
            except Exception as exc:  # noqa: BLE001 - the loop must outlive any one bad receive
                delay = RECEIVE_BACKOFF_SECONDS[min(failures, len(RECEIVE_BACKOFF_SECONDS) - 1)]
                failures += 1
                log.warning("receive failed; retrying", extra={"error": aws.error_code(exc), "retryIn": delay})
                stop.wait(delay)
                continue
            failures = 0
            self._start(messages)

    def _start(self, messages: list[QueueMessage]) -> None:
        # Registered under the same lock the drain takes, so a batch is either waited for (or
        # released) by the drain, or released here: never started behind its back.
        with self._changed:
            accepted = not self._draining
            if accepted:
                self.stats.received += len(messages)
                for message in messages:
                    self._in_flight[message.receipt_handle] = InFlight(
                        message, self._now() + self.visibility_timeout)
        if not accepted:
            self._release(messages)  # received after the stop: not ours to start
            return
        for message in messages:
            threading.Thread(target=self._run_job, args=(message,),
                             name=f"job-{message.message_id[:8]}", daemon=True).start()

    def _run_job(self, message: QueueMessage) -> None:
        result: MessageResult | None = None
        try:
            result = self.processor.process(message)
        finally:
            acknowledged = result is not None and result.acknowledged
            with self._changed:
                # The slot frees before the delete, so the next receive overlaps it; the drain
                # still waits for the delete (`_deleting`).
                self._in_flight.pop(message.receipt_handle, None)
                self._deleting += acknowledged
                if acknowledged:
                    self.stats.acknowledged += 1
                else:
                    self.stats.retried += 1
                self._changed.notify_all()
        if acknowledged:
            try:
                self._delete(message)
            finally:
                with self._changed:
                    self._deleting -= 1
                    self._changed.notify_all()

    def _delete(self, message: QueueMessage) -> None:
        try:
            self.client.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message.receipt_handle)
        except aws.AWS_ERRORS as exc:
            # The work is done; a redelivery finds the soundbite finished and acknowledges it.
            with self._changed:
                self.stats.delete_failures += 1
            log.warning("delete failed", extra={"messageId": message.message_id, "error": aws.error_code(exc)})

    def _release(self, messages: list[QueueMessage]) -> None:
        """Make messages visible again at once, so another worker need not wait them out."""
        for message in messages:
            try:
                self.client.change_message_visibility(
                    QueueUrl=self.queue_url, ReceiptHandle=message.receipt_handle, VisibilityTimeout=0)
                with self._changed:
                    self.stats.released += 1
                log.info("released", extra={"messageId": message.message_id})
            except aws.AWS_ERRORS as exc:
                log.warning("release failed; the message returns after its visibility timeout",
                            extra={"messageId": message.message_id, "error": aws.error_code(exc)})

    # --- heartbeat ---------------------------------------------------------------------------

    def _heartbeat_loop(self) -> None:
        interval = max(0.5, self.visibility_timeout / HEARTBEATS_PER_TIMEOUT)
        while not self._finished.wait(interval):
            try:
                self.beat()
            except Exception:  # noqa: BLE001 - a dead heartbeat would let long jobs reappear
                log.exception("heartbeat failed")

    def beat(self) -> int:
        """Extend every running job within half a timeout of reappearing; returns how many."""
        now = self._now()
        with self._changed:
            due = [job for job in self._in_flight.values()
                   if not job.released and job.visible_until - now <= self.visibility_timeout / 2]
        extended = 0
        for job in due:
            try:
                self.client.change_message_visibility(
                    QueueUrl=self.queue_url, ReceiptHandle=job.message.receipt_handle,
                    VisibilityTimeout=self.visibility_timeout)
            except aws.AWS_ERRORS as exc:
                log.warning("visibility extension failed", extra={
                    "messageId": job.message.message_id, "error": aws.error_code(exc)})
                continue
            with self._changed:
                job.visible_until = now + self.visibility_timeout
                self.stats.extended += 1
            extended += 1
        return extended
