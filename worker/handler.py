"""Processing one synthesis job: load, mark processing, synthesize, upload, mark ready.

Knows nothing of SQS. It returns an `Outcome` for work that is finished one way or another
(the message may be deleted) and raises a `TransientError` for work that should be tried
again (the message must stay, so SQS redelivers it and, after the spec's maximum receive
count, moves it to the DLQ). Delivery is at least once, so every step tolerates a repeat.

Every job ends. A transient failure at a job's last receive before the DLQ marks its soundbite
failed when nothing would try it again unattended: where a schedule redrives the DLQ (dev,
staging) that is only once the redrive maximum is spent, and the message is then deleted;
where none does (production) it is every job's last receive, and the message still goes to
the DLQ, where a person's redrive reopens the soundbite and tries again (worker/redrive.py).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from enum import StrEnum

from soundbite import spec
from soundbite.core.audio_store import AudioStore
from soundbite.core.aws import AWS_ERRORS
from soundbite.core.domain import Soundbite, Status, audio_key
from soundbite.core.exceptions import DependencyUnavailable, StateConflict
from soundbite.core.repository import SoundbiteRepository
from soundbite.core.synth.formats import format_named
from worker.exceptions import (
    AlreadyInProgress,
    MalformedMessage,
    PermanentError,
    SoundbiteNotFound,
    StorageError,
    TransientError,
)
from worker.messages import Job
from worker.metrics import JobMeasurements, WorkerMetrics
from worker.redrive import GAVE_UP_FOR_NOW
from worker.synth import Synthesizer

log = logging.getLogger("soundbite.worker")


def client_reason(exc: Exception) -> str:
    """What the client may read of an error: its code, and its message unless an AWS answer
    caused it (AWS messages may name the account, a role, a bucket or a table)."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, AWS_ERRORS):
            return exc.code
        cause = cause.__cause__
    return f"{exc.code}: {exc}"


class Outcome(StrEnum):
    READY = "ready"  # synthesized, stored, marked ready
    ALREADY_DONE = "already_done"  # a repeat delivery of a soundbite that is ready or failed
    FAILED = "failed"  # a permanent failure, recorded on the soundbite
    DROPPED = "dropped"  # nothing to record it on: unknown soundbite or malformed message
    RETRY = "retry"  # transient failure: leave the message for redelivery

    @property
    def acknowledged(self) -> bool:
        """Whether the message is done with and may be deleted."""
        return self is not Outcome.RETRY


class JobHandler:
    """Turns one job into audio in S3 and a ready soundbite (or a recorded failure).

    `synthesis_slots` bounds how many jobs synthesize at once (the CPU-bound part); a job's
    storage calls run outside it, so with more jobs in flight than slots, one job's upload
    and status writes overlap the next job's synthesis. `synthesis_cap` (a
    `RedisSynthesisCap`) bounds it across every worker as well.
    """

    def __init__(self, repository: SoundbiteRepository, audio_store: AudioStore,
                 synthesizer: Synthesizer, metrics: WorkerMetrics | None = None,
                 now=time.time, timer=time.perf_counter,
                 synthesis_slots: int | None = None, synthesis_cap=None,
                 max_receives: int = spec.MAX_RECEIVE_COUNT,
                 max_redrives: int = spec.REDRIVE_MAX_COUNT,
                 scheduled_redrive: bool | None = None) -> None:
        self.repository = repository
        self.audio_store = audio_store
        self.synthesizer = synthesizer
        self.metrics = metrics
        self._now = now
        self._timer = timer
        self._in_flight: set[str] = set()
        self._lock = threading.Lock()
        self._synthesis = (threading.BoundedSemaphore(synthesis_slots) if synthesis_slots
                           else contextlib.nullcontext())
        self._cap = synthesis_cap
        self.max_receives = max_receives
        self.max_redrives = max_redrives
        self.scheduled_redrive = (spec.scheduled_redrive(repository.environment)
                                  if scheduled_redrive is None else scheduled_redrive)
        """Whether a schedule redrives the DLQ unattended; without one, a job's last receive
        before the DLQ is its last attempt unless a person redrives it."""

    def handle(self, job: Job) -> Outcome:
        """Process `job`; raises TransientError when it should be retried later."""
        m = {"soundbite_id": job.soundbite_id, "correlation_id": job.correlation_id,
             "receive_count": job.receive_count}
        if job.enqueued_at is not None:
            m["queue_wait_seconds"] = max(0.0, self._now() - job.enqueued_at)
        try:
            outcome = self._claim_and_process(job, m)
        except TransientError as exc:
            if self.is_last_attempt(job) and not isinstance(exc, AlreadyInProgress):
                ended = self._end_last_attempt(job, m, client_reason(exc), f"{exc.code}: {exc}")
                if ended is not None:
                    if ended is Outcome.FAILED and not self._final(job):
                        raise  # failed for the client; the message still goes to the DLQ for a person
                    return ended
            self._record(Outcome.RETRY, m, error=f"{exc.code}: {exc}")
            raise
        except Exception as exc:
            # A bug or an error nobody classified: retried, so it reaches the DLQ, not the void;
            # on the last attempt the soundbite ends failed like any other (never `processing`
            # for good), its client told only that it was an internal error.
            detail = f"unexpected: {type(exc).__name__}: {exc}"
            if self.is_last_attempt(job):
                ended = self._end_last_attempt(job, m, "an internal error", detail)
                if ended is not None:
                    if ended is Outcome.FAILED and not self._final(job):
                        raise
                    return ended
            self._record(Outcome.RETRY, m, error=f"unexpected: {type(exc).__name__}")
            raise
        self._record(outcome, m, error=m.pop("error", None))
        return outcome

    def _end_last_attempt(self, job: Job, m: dict, reason: str, detail: str) -> Outcome | None:
        """The soundbite marked failed after its last attempt, recorded; its outcome, or None
        when it could not be marked (the caller retries, so the message reaches the DLQ)."""
        outcome = self._give_up(job, m, reason, detail=detail)
        if outcome is not None:
            self._record(outcome, m, error=m.pop("error", None))
        return outcome

    def _claim_and_process(self, job: Job, m: dict) -> Outcome:
        # Two deliveries of one soundbite in this process at once: the second waits its turn
        # in the queue; by then the first has finished and the second acknowledges.
        with self._lock:
            if job.soundbite_id in self._in_flight:
                raise AlreadyInProgress(f"soundbite {job.soundbite_id} is already being processed here")
            self._in_flight.add(job.soundbite_id)
        try:
            return self._process(job, m)
        finally:
            with self._lock:
                self._in_flight.discard(job.soundbite_id)

    def _process(self, job: Job, m: dict) -> Outcome:
        if job.environment != self.repository.environment:
            m["error"] = (f"{MalformedMessage.code}: job for environment {job.environment!r} "
                          f"on the {self.repository.environment!r} queue")
            return Outcome.DROPPED
        try:
            # The guarded write is also the read: it returns the record, and refuses one that
            # is missing, ready or failed; only then does a read tell those apart.
            soundbite = self._storage(
                lambda: self.repository.mark_processing(job.soundbite_id), "mark processing")
        except StateConflict:
            return self._not_processable(job, m)
        m.update(voice=soundbite.voice, text_length=len(soundbite.text))
        try:
            with self._synthesis, self._cap_slot():
                started = self._timer()
                audio = self.synthesizer.synthesize(soundbite.text, soundbite.voice, soundbite.format)
                m["synthesis_seconds"] = self._timer() - started
        except PermanentError as exc:
            m["error"] = f"{exc.code}: {exc}"
            return self._fail(soundbite, m["error"])
        m["audio_seconds"] = audio.duration_seconds
        key = audio_key(soundbite, format_named(audio.fmt).extension)
        self._storage(lambda: self.audio_store.put(key, audio.data, audio.content_type), "upload")
        try:
            self._storage(lambda: self.repository.mark_ready(
                soundbite.id, key, audio.size, audio.duration_seconds), "mark ready")
        except StateConflict:
            return Outcome.ALREADY_DONE
        return Outcome.READY

    def _cap_slot(self):
        return self._cap.slot() if self._cap is not None else contextlib.nullcontext()

    def is_last_attempt(self, job: Job) -> bool:
        """Whether neither SQS (receives) nor an unattended redrive would try `job` again."""
        if job.receive_count < self.max_receives:
            return False
        return not self.scheduled_redrive or self._final(job)

    def _final(self, job: Job) -> bool:
        """Whether the redrive would refuse `job`'s message: no attempt may follow at all."""
        return job.redrive_count >= self.max_redrives

    def _give_up(self, job: Job, m: dict, error: str, detail: str | None = None) -> Outcome | None:
        """Mark the soundbite failed after its last attempt; None if that cannot be recorded.

        The client reads the reason (`client_reason`); the whole error goes to the log."""
        attempts = self.max_receives * (job.redrive_count + 1)
        if self._final(job):
            reason = f"gave up after {attempts} attempts; the last failed with {error}"
        else:
            # Starts with the marker the redrive reopens by; short, so the 500-character
            # reason keeps it and the promise whatever the error says.
            reason = (f"{GAVE_UP_FOR_NOW} after {attempts} attempts (an operator's redrive may "
                      f"retry it); the last failed with {error}")
        try:
            self.repository.mark_failed(job.soundbite_id, reason)
        except StateConflict:
            m["error"] = detail or error
            return Outcome.ALREADY_DONE  # finished meanwhile, or never written: nothing to end
        except DependencyUnavailable:
            return None  # storage is down too: the message goes to the DLQ after all
        m["error"] = reason if detail is None else f"{reason} ({detail})"
        return Outcome.FAILED

    def _not_processable(self, job: Job, m: dict) -> Outcome:
        soundbite = self._storage(lambda: self.repository.get(job.soundbite_id), "load")
        if soundbite is None:
            age = None if job.enqueued_at is None else self._now() - job.enqueued_at
            if age is not None and age < spec.UNWRITTEN_GRACE_SECONDS:
                # The API queues the job before writing the record: it may not be there yet.
                raise TransientError(f"soundbite {job.soundbite_id} is not written yet "
                                     f"(job {age:.0f} s old); retrying")
            m["error"] = f"{SoundbiteNotFound.code}: no soundbite {job.soundbite_id}"
            return Outcome.DROPPED
        m.update(voice=soundbite.voice, text_length=len(soundbite.text))
        if soundbite.status in (Status.READY, Status.FAILED):
            return Outcome.ALREADY_DONE
        # Neither missing nor finished, yet the guard refused: the record changed between the
        # write and this read. Retry rather than guess; the DLQ keeps it if it never settles.
        raise TransientError(f"soundbite {job.soundbite_id} is {soundbite.status.value}; cannot process")

    def _fail(self, soundbite: Soundbite, reason: str) -> Outcome:
        try:
            self._storage(lambda: self.repository.mark_failed(soundbite.id, reason), "mark failed")
        except StateConflict:
            return Outcome.ALREADY_DONE
        return Outcome.FAILED

    @staticmethod
    def _storage(call, step: str):
        try:
            return call()
        except DependencyUnavailable as exc:
            raise StorageError(f"{step}: {exc}") from exc

    def _record(self, outcome: Outcome, m: dict, error: str | None = None) -> None:
        level = logging.WARNING if outcome in (Outcome.RETRY, Outcome.FAILED, Outcome.DROPPED) else logging.INFO
        log.log(level, "job %s", outcome.value, extra={
            "soundbiteId": m["soundbite_id"], "correlationId": m["correlation_id"],
            "receiveCount": m["receive_count"], "outcome": outcome.value, "reason": error,
        })
        if self.metrics is not None:
            self.metrics.job(JobMeasurements(**{**m, "outcome": outcome.value, "error": error}))
