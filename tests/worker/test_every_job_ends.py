"""Every job ends, with or without a scheduled redrive.

Where nothing redrives the DLQ unattended (production), a job's last receive before the DLQ
is its last attempt: its soundbite is marked failed with why, and its message still reaches
the DLQ, where a person's redrive reopens the soundbite and tries again. Where a schedule
redrives (dev, staging), the soundbite stays `processing` until the redrive maximum is spent.
"""

from __future__ import annotations

import json

import pytest

from soundbite import spec
from soundbite.core.domain import CreateRequest, Status, new_soundbite
from soundbite.core.metrics import MetricsEmitter
from soundbite.core.publisher import JobPublisher
from soundbite.core.repository import SoundbiteRepository
from tests.worker.conftest import TEXT_200, emf_records, queue_counts, wait_for
from worker.batch import BatchProcessor
from worker.exceptions import EngineTimeout
from worker.factory import build_handler
from worker.handler import Outcome
from worker.messages import Job, from_sqs
from worker.metrics import WorkerMetrics
from worker.redrive import (
    ERROR,
    GAVE_UP_FOR_NOW,
    REDRIVE,
    DlqRedriver,
)


class AlwaysTimesOut:
    """A synthesizer whose every synthesis runs past its limit (a transient failure)."""

    name = "times-out"
    default_voice = "en-us"

    def __init__(self) -> None:
        self.calls = 0

    def synthesize(self, text: str, voice: str, fmt: str):
        self.calls += 1
        raise EngineTimeout("synthesis took longer than its limit of 60 s; stopped")


@pytest.fixture
def short_visibility(settings, sqs):
    """A failed attempt comes back after 1 s instead of 130 s."""
    sqs.set_queue_attributes(QueueUrl=settings.queue_url, Attributes={"VisibilityTimeout": "1"})


@pytest.fixture(params=["prod", "scheduled"])
def env(request, settings):
    """The test's data plane as production (no scheduled redrive) or as dev (its own name)."""
    return settings.updated({"environment": spec.PRODUCTION}) if request.param == "prod" else settings


@pytest.fixture
def prod(settings):
    return settings.updated({"environment": spec.PRODUCTION})


def create_in(chosen, text: str = TEXT_200):
    """Create and queue a soundbite in `chosen`'s environment, as the API does."""
    repo = SoundbiteRepository(chosen.table, chosen.environment)
    soundbite = new_soundbite(CreateRequest(text, "en-us", "wav"), chosen.environment, None)
    repo.create(soundbite)
    JobPublisher(chosen.queue_url).publish(soundbite, correlation_id=f"test-{soundbite.id[:8]}")
    return soundbite, repo


def processor_in(chosen, metrics_out, synthesizer) -> BatchProcessor:
    metrics = WorkerMetrics(MetricsEmitter(chosen.environment, "local", stream=metrics_out))
    return BatchProcessor(build_handler(chosen, synthesizer=synthesizer, metrics=metrics))


def test_only_production_has_no_scheduled_redrive(settings):
    assert spec.scheduled_redrive(spec.PRODUCTION) is False
    assert spec.scheduled_redrive("dev") is spec.scheduled_redrive("staging") is True
    assert build_handler(settings.updated({"environment": spec.PRODUCTION})).scheduled_redrive is False
    assert build_handler(settings).scheduled_redrive is True


def test_a_job_that_always_fails_transiently_ends_failed_where_nothing_redrives(
        env, short_visibility, start_poller, sqs, metrics_out):
    soundbite, repo = create_in(env)
    engine = AlwaysTimesOut()
    running = start_poller(processor_in(env, metrics_out, engine))

    wait_for(lambda: queue_counts(sqs, env.dlq_url)[0] == 1, timeout=60,
             what="the message to reach the DLQ")
    running.stop()

    assert engine.calls == spec.MAX_RECEIVE_COUNT
    outcomes = [r["Outcome"] for r in emf_records(metrics_out) if "Jobs" in r]
    [entry] = DlqRedriver(env.dlq_url, env.queue_url).inspect(10)
    assert (entry.soundbite_id, entry.receives) == (soundbite.id, spec.MAX_RECEIVE_COUNT)
    after = repo.get(soundbite.id)
    if env.environment == spec.PRODUCTION:
        assert outcomes == ["retry"] * (spec.MAX_RECEIVE_COUNT - 1) + ["failed"]
        assert after.status is Status.FAILED
        assert after.failure_reason.startswith(
            f"{GAVE_UP_FOR_NOW} after {spec.MAX_RECEIVE_COUNT} attempts (an operator's redrive may retry it)")
        assert "engine_timeout: synthesis took longer than its limit" in after.failure_reason
    else:  # the schedule redrives it: unchanged, it stays processing until then
        assert outcomes == ["retry"] * spec.MAX_RECEIVE_COUNT
        assert after.status is Status.PROCESSING


def test_a_manual_redrive_of_a_soundbite_given_up_on_completes_it(
        prod, short_visibility, start_poller, sqs, metrics_out, synth):
    soundbite, repo = create_in(prod)
    running = start_poller(processor_in(prod, metrics_out, AlwaysTimesOut()))
    wait_for(lambda: queue_counts(sqs, prod.dlq_url)[0] == 1 and repo.get(soundbite.id).status is Status.FAILED,
             timeout=60, what="the soundbite to fail and its message to reach the DLQ")
    running.stop()

    report = DlqRedriver(prod.dlq_url, prod.queue_url, base_delay=0, repository=repo).redrive(10)

    assert [d.action for d in report.decisions] == [REDRIVE]
    reopened = repo.get(soundbite.id)
    assert (reopened.status, reopened.failure_reason) == (Status.PENDING, None)
    running = start_poller(processor_in(prod, metrics_out, synth))
    done = wait_for(lambda: (sb := repo.get(soundbite.id)).status is Status.READY and sb,
                    what="the redriven job to finish")
    running.stop()
    assert done.audio_key and queue_counts(sqs, prod.dlq_url) == (0, 0, 0)


def test_a_soundbite_failed_by_its_text_stays_failed_when_its_message_is_redriven(
        prod, sqs, metrics_out, synth):
    soundbite, repo = create_in(prod)
    repo.mark_failed(soundbite.id, "text_rejected: nothing to speak")
    [message] = sqs.receive_message(QueueUrl=prod.queue_url, WaitTimeSeconds=3)["Messages"]
    sqs.send_message(QueueUrl=prod.dlq_url, MessageBody=message["Body"])
    sqs.delete_message(QueueUrl=prod.queue_url, ReceiptHandle=message["ReceiptHandle"])

    assert repo.reopen_failed(soundbite.id, GAVE_UP_FOR_NOW) is None
    report = DlqRedriver(prod.dlq_url, prod.queue_url, base_delay=0, repository=repo).redrive(10)
    [copy] = sqs.receive_message(QueueUrl=prod.queue_url, WaitTimeSeconds=3,
                                 AttributeNames=["All"], MessageAttributeNames=["All"])["Messages"]
    result = processor_in(prod, metrics_out, synth).process(from_sqs(copy))

    assert [d.action for d in report.decisions] == [REDRIVE]
    assert result.outcome is Outcome.ALREADY_DONE and synth.calls == []
    still = repo.get(soundbite.id)
    assert (still.status, still.failure_reason) == (Status.FAILED, "text_rejected: nothing to speak")


def test_a_redrive_whose_send_fails_leaves_the_soundbite_failed_as_it_was(prod, sqs):
    soundbite, repo = create_in(prod)
    reason = f"{GAVE_UP_FOR_NOW} after 3 attempts (an operator's redrive may retry it); the last failed with x"
    repo.mark_failed(soundbite.id, reason)
    sqs.send_message(QueueUrl=prod.dlq_url, MessageBody=_body(soundbite))

    report = DlqRedriver(prod.dlq_url, prod.queue_url + "-missing", repository=repo).redrive(10)

    assert [d.action for d in report.decisions] == [ERROR]
    after = repo.get(soundbite.id)
    assert (after.status, after.failure_reason) == (Status.FAILED, reason)
    assert queue_counts(sqs, prod.dlq_url)[0] == 1


def very_last_attempt(soundbite, redrive_count: int = spec.REDRIVE_MAX_COUNT) -> Job:
    """The job's last receive before the DLQ, redriven `redrive_count` times (by default as
    often as the redrive allows: no attempt follows)."""
    return Job(soundbite.id, soundbite.environment, None, "-", receive_count=spec.MAX_RECEIVE_COUNT,
               redrive_count=redrive_count)


def test_the_last_redrive_ends_a_job_for_good_in_production_too(prod, metrics_out):
    soundbite, repo = create_in(prod)
    handler = processor_in(prod, metrics_out, AlwaysTimesOut()).handler
    job = very_last_attempt(soundbite)

    assert handler.handle(job) is Outcome.FAILED  # acknowledged: the redrive would refuse it

    after = repo.get(soundbite.id)
    attempts = spec.MAX_RECEIVE_COUNT * (spec.REDRIVE_MAX_COUNT + 1)
    assert after.failure_reason.startswith(f"gave up after {attempts} attempts; the last failed with")
    assert repo.reopen_failed(soundbite.id, GAVE_UP_FOR_NOW) is None, "not one a redrive reopens"


def _body(soundbite) -> str:
    return json.dumps({"id": soundbite.id, "environment": soundbite.environment})


class PollyAccessDenied(AlwaysTimesOut):
    """Polly refusing the worker's role: AWS's message names the account and the role."""

    name = "polly-denied"
    MESSAGE = ("User: arn:aws:sts::111122223333:assumed-role/soundbite-prod-worker/i-0abc is not "
               "authorized to perform: polly:SynthesizeSpeech")

    def synthesize(self, text: str, voice: str, fmt: str):
        from botocore.exceptions import ClientError

        from soundbite.core.synth.polly_errors import polly_errors

        self.calls += 1
        with polly_errors():
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": self.MESSAGE},
                               "ResponseMetadata": {"HTTPStatusCode": 403}}, "SynthesizeSpeech")


def test_a_job_given_up_on_an_aws_error_tells_its_client_the_code_not_the_account(prod, metrics_out):
    soundbite, repo = create_in(prod)
    handler = processor_in(prod, metrics_out, PollyAccessDenied()).handler
    assert handler.handle(very_last_attempt(soundbite)) is Outcome.FAILED
    reason = repo.get(soundbite.id).failure_reason
    assert reason.endswith("the last failed with synthesis_error")
    assert "111122223333" not in reason and "arn:" not in reason


class Crashes(AlwaysTimesOut):
    """A synthesizer with a bug: an error nobody classified, on every attempt."""

    name = "crashes"

    def synthesize(self, text: str, voice: str, fmt: str):
        self.calls += 1
        raise OSError("[Errno 24] Too many open files: /srv/secret/path")


def test_a_job_whose_every_attempt_hits_an_unclassified_error_still_ends_failed(prod, metrics_out):
    """A bug is retried like a transient error, but on the last attempt the soundbite ends
    `failed` (never `processing` for good); its client reads only that it was internal."""
    soundbite, repo = create_in(prod)
    handler = processor_in(prod, metrics_out, Crashes()).handler
    assert handler.handle(very_last_attempt(soundbite)) is Outcome.FAILED
    reason = repo.get(soundbite.id).failure_reason
    assert reason.endswith("the last failed with an internal error") and "/srv" not in reason
    second, _ = create_in(prod)
    with pytest.raises(OSError):  # failed for the client; the message goes on to the DLQ
        handler.handle(very_last_attempt(second, redrive_count=0))
    assert repo.get(second.id).status is Status.FAILED
