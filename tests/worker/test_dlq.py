"""Transient failures reach the DLQ after exactly 3 receives; redrive brings them back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from soundbite import spec
from soundbite.core.domain import Status
from tests.worker.conftest import emf_records, queue_counts, wait_for
from worker.redrive import REDRIVE, REFUSE, DlqRedriver, backoff_delay


@pytest.fixture
def short_visibility(settings, sqs):
    """Failed deliveries come back after 1 s instead of 130 s, so three take seconds."""
    sqs.set_queue_attributes(QueueUrl=settings.queue_url, Attributes={"VisibilityTimeout": "1"})


@pytest.fixture
def poisoned(create_soundbite, make_processor, start_poller, settings, sqs, short_visibility, metrics_out):
    """A soundbite whose every attempt fails transiently (its audio bucket does not exist)."""
    soundbite, message_id = create_soundbite()
    broken = make_processor(bucket=f"{settings.bucket}-missing")
    running = start_poller(broken)
    wait_for(lambda: queue_counts(sqs, settings.dlq_url)[0] == 1, what="the message to reach the DLQ")
    running.stop()
    return soundbite, message_id


def test_a_poison_message_reaches_the_dlq_after_exactly_three_receives(
        poisoned, settings, sqs, metrics_out, repo):
    soundbite, message_id = poisoned

    attempts = [r for r in emf_records(metrics_out) if "Jobs" in r]
    assert [r["Outcome"] for r in attempts] == ["retry"] * spec.MAX_RECEIVE_COUNT
    assert [r["receiveCount"] for r in attempts] == [1, 2, 3]
    assert all(r["error"].startswith("storage_error: upload") for r in attempts)
    assert queue_counts(sqs, settings.queue_url) == (0, 0, 0)
    [entry] = DlqRedriver(settings.dlq_url, settings.queue_url).inspect(10)
    assert (entry.message_id, entry.soundbite_id, entry.receives) == (message_id, soundbite.id, 3)
    assert repo.get(soundbite.id).status is Status.PROCESSING  # not failed: its text is fine


def test_redrive_brings_it_back_with_metadata_and_the_worker_finishes_it(
        poisoned, settings, sqs, processor, start_poller, repo):
    soundbite, message_id = poisoned
    moment = datetime(2024, 5, 1, 12, 0, tzinfo=UTC).timestamp()
    redriver = DlqRedriver(settings.dlq_url, settings.queue_url, base_delay=0, now=lambda: moment)

    report = redriver.redrive(10)

    assert report.to_dict()["redriven"] == 1
    assert queue_counts(sqs, settings.dlq_url) == (0, 0, 0)
    [message] = sqs.receive_message(QueueUrl=settings.queue_url, MessageAttributeNames=["All"],
                                    WaitTimeSeconds=1)["Messages"]
    attrs = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attrs == {
        "correlationId": f"test-{soundbite.id[:8]}", "voice": "en-us",  # preserved
        "redriveCount": "1", "originalMessageId": message_id, "redrivenAt": "2024-05-01T12:00:00Z",
    }
    sqs.change_message_visibility(QueueUrl=settings.queue_url, ReceiptHandle=message["ReceiptHandle"],
                                  VisibilityTimeout=0)
    running = start_poller(processor)
    wait_for(lambda: repo.get(soundbite.id).status is Status.READY)
    running.stop()


def test_redrive_delays_each_message_by_its_own_backoff(settings, sqs):
    for done in (0, 2):
        sqs.send_message(QueueUrl=settings.dlq_url, MessageBody=f'{{"done": {done}}}', MessageAttributes={
            "redriveCount": {"DataType": "Number", "StringValue": str(done)}})

    report = DlqRedriver(settings.dlq_url, settings.queue_url).redrive(10)

    delays = sorted((d.redrive_count, d.delay_seconds) for d in report.decisions)
    base = spec.REDRIVE_BASE_DELAY_SECONDS
    assert delays == [(1, base), (3, base * 4)]
    assert queue_counts(sqs, settings.queue_url) == (0, 0, 2), "delayed, not yet visible"


def test_backoff_doubles_per_redrive_up_to_the_sqs_ceiling():
    delays = [backoff_delay(n) for n in range(8)]
    assert delays[:3] == [spec.REDRIVE_BASE_DELAY_SECONDS * k for k in (1, 2, 4)]
    assert delays[-1] == spec.REDRIVE_MAX_DELAY_SECONDS
    assert delays == sorted(delays)


def test_a_message_past_the_maximum_redrive_count_stays_in_the_dlq(settings, sqs):
    sqs.send_message(QueueUrl=settings.dlq_url, MessageBody='{"id": "x"}', MessageAttributes={
        "redriveCount": {"DataType": "Number", "StringValue": str(spec.REDRIVE_MAX_COUNT)}})

    report = DlqRedriver(settings.dlq_url, settings.queue_url).redrive(10)

    assert [d.action for d in report.decisions] == [REFUSE]
    assert "maximum" in report.decisions[0].reason
    assert queue_counts(sqs, settings.dlq_url) == (1, 0, 0), "left in the DLQ and visible again"
    assert queue_counts(sqs, settings.queue_url) == (0, 0, 0)


def test_dry_run_changes_nothing(settings, sqs):
    for n in range(3):
        sqs.send_message(QueueUrl=settings.dlq_url, MessageBody=f'{{"n": {n}}}')

    report = DlqRedriver(settings.dlq_url, settings.queue_url).redrive(10, dry_run=True)

    assert [d.action for d in report.decisions] == [REDRIVE] * 3
    assert queue_counts(sqs, settings.dlq_url) == (3, 0, 0)
    assert queue_counts(sqs, settings.queue_url) == (0, 0, 0)


def test_a_failed_send_leaves_the_message_in_the_dlq(settings, sqs):
    sqs.send_message(QueueUrl=settings.dlq_url, MessageBody='{"id": "x"}')
    missing = settings.queue_url + "-missing"

    report = DlqRedriver(settings.dlq_url, missing).redrive(10)

    assert report.to_dict()["errors"] == 1
    assert "send failed" in report.decisions[0].reason
    assert queue_counts(sqs, settings.dlq_url) == (1, 0, 0)


def test_redrive_honours_max(settings, sqs):
    for n in range(4):
        sqs.send_message(QueueUrl=settings.dlq_url, MessageBody=f'{{"n": {n}}}')

    report = DlqRedriver(settings.dlq_url, settings.queue_url, base_delay=0).redrive(3)

    assert report.to_dict()["redriven"] == 3
    assert queue_counts(sqs, settings.dlq_url) == (1, 0, 0)
    assert queue_counts(sqs, settings.queue_url)[0] == 3


def test_refusing_a_dead_letter_marks_its_soundbite_failed_with_the_reason(poisoned, settings, sqs, repo):
    soundbite, _ = poisoned
    redriver = DlqRedriver(settings.dlq_url, settings.queue_url, max_redrives=0, repository=repo)

    redriver.redrive(10, dry_run=True)
    assert repo.get(soundbite.id).status is Status.PROCESSING, "a dry run changes nothing"
    report = redriver.redrive(10)

    assert [d.action for d in report.decisions] == [REFUSE]
    failed = repo.get(soundbite.id)
    assert failed.status is Status.FAILED
    assert failed.failure_reason.startswith("gave up: every retry failed")
    assert "already redriven 0 times (maximum 0)" in failed.failure_reason
    assert queue_counts(sqs, settings.dlq_url) == (1, 0, 0), "still there for a person"
    assert redriver.redrive(10).count(REFUSE) == 1, "refusing again is harmless"


def test_the_scheduled_redrive_and_the_cli_build_a_redriver_that_ends_refused_soundbites(settings):
    from worker.factory import build_redriver

    assert build_redriver(settings).repository.table == settings.table
