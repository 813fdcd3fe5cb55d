"""Real `soundbite worker` processes: SIGKILL mid-job and SIGTERM mid-job lose nothing."""

from __future__ import annotations

import io
import os
import signal
import time

import pytest
import soundfile

from soundbite import spec
from soundbite.core.domain import Status
from tests.worker.conftest import LONG_TEXT, job_records, queue_counts, wait_for
from worker.messages import REDRIVE_COUNT

GRACE_SECONDS = 8


@pytest.fixture
def short_visibility(settings, sqs):
    """A message whose worker died reappears after 3 s, not 130 s."""
    sqs.set_queue_attributes(QueueUrl=settings.queue_url, Attributes={"VisibilityTimeout": "3"})


def playable_seconds(s3, bucket: str, key: str) -> float:
    info = soundfile.info(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
    return info.frames / info.samplerate


def test_sigkill_mid_job_then_another_worker_completes_the_soundbite(
        create_soundbite, start_worker, short_visibility, repo, settings, sqs, s3):
    soundbite, _ = create_soundbite(text=LONG_TEXT, fmt="mp3")
    first = start_worker("first")
    wait_for(lambda: repo.get(soundbite.id).status is Status.PROCESSING, what="the job to start")

    os.killpg(first.pid, signal.SIGKILL)
    first.wait(5)
    assert repo.get(soundbite.id).status is Status.PROCESSING, "killed mid-job"

    second = start_worker("second")
    done = wait_for(lambda: (sb := repo.get(soundbite.id)).status is Status.READY and sb, timeout=40)
    assert playable_seconds(s3, settings.bucket, done.audio_key) > 100
    wait_for(lambda: queue_counts(sqs, settings.queue_url) == (0, 0, 0), what="the message deleted")
    [record] = job_records(second)
    assert (record["Outcome"], record["receiveCount"]) == ("ready", 2)


def test_sigterm_mid_job_finishes_it_within_the_grace_period_and_exits_0(
        create_soundbite, start_worker, repo, settings, sqs):
    soundbite, _ = create_soundbite(text=LONG_TEXT, fmt="mp3")
    worker = start_worker("graceful", SOUNDBITE_WORKER_GRACE_SECONDS=str(GRACE_SECONDS))
    wait_for(lambda: repo.get(soundbite.id).status is Status.PROCESSING, what="the job to start")

    signalled = time.monotonic()
    os.killpg(worker.pid, signal.SIGTERM)
    code = worker.wait(GRACE_SECONDS + 5)

    assert code == 0
    assert time.monotonic() - signalled < GRACE_SECONDS + 2
    assert repo.get(soundbite.id).status is Status.READY
    assert queue_counts(sqs, settings.queue_url) == (0, 0, 0)


def test_sigterm_with_no_grace_releases_the_job_for_another_worker(
        create_soundbite, start_worker, repo, settings, sqs):
    soundbite, _ = create_soundbite(text=LONG_TEXT, fmt="mp3")
    worker = start_worker("impatient", SOUNDBITE_WORKER_GRACE_SECONDS="0")
    wait_for(lambda: repo.get(soundbite.id).status is Status.PROCESSING, what="the job to start")

    os.killpg(worker.pid, signal.SIGTERM)
    assert worker.wait(5) == 0
    assert repo.get(soundbite.id).status is Status.PROCESSING, "stopped before the job finished"
    assert "released" in worker.log_path.read_text()
    # Visible again well before the queue's 130 s visibility timeout could have passed.
    assert wait_for(lambda: queue_counts(sqs, settings.queue_url)[0] == 1, timeout=20)

    start_worker("successor")
    wait_for(lambda: repo.get(soundbite.id).status is Status.READY, timeout=40)
    wait_for(lambda: queue_counts(sqs, settings.queue_url) == (0, 0, 0), what="the message deleted")


def test_an_idle_worker_exits_0_on_sigterm_within_its_poll_wait(start_worker):
    worker = start_worker("idle")
    wait_for(lambda: "worker started" in worker.log_path.read_text(), what="the worker to start")

    os.killpg(worker.pid, signal.SIGTERM)

    # Its poll wait is 1 s (the fixture's); 10 s is well short of any visibility timeout or
    # the production long poll, which a worker that ignored the signal would run into.
    assert worker.wait(10) == 0
    assert '"worker stopped"' in worker.log_path.read_text()


def test_a_synthesis_past_its_time_limit_is_killed_and_the_last_attempt_fails_the_soundbite(
        create_soundbite, start_worker, short_visibility, repo, settings, sqs):
    # Already redriven as often as the redrive allows: these three receives are its last.
    soundbite, _ = create_soundbite(text=LONG_TEXT, fmt="mp3")
    message = sqs.receive_message(QueueUrl=settings.queue_url, WaitTimeSeconds=5,
                                  MessageAttributeNames=["All"])["Messages"][0]
    attributes = {**message.get("MessageAttributes", {}),
                  REDRIVE_COUNT: {"DataType": "Number", "StringValue": str(spec.REDRIVE_MAX_COUNT)}}
    sqs.send_message(QueueUrl=settings.queue_url, MessageBody=message["Body"], MessageAttributes=attributes)
    sqs.delete_message(QueueUrl=settings.queue_url, ReceiptHandle=message["ReceiptHandle"])

    worker = start_worker("limited", SOUNDBITE_WORKER_TIME_LIMIT_SECONDS="0.05")
    failed = wait_for(lambda: (sb := repo.get(soundbite.id)).status is Status.FAILED and sb,
                      timeout=90, what="the soundbite to fail")

    assert "longer than its limit of 0.05 s" in failed.failure_reason
    outcomes = wait_for(lambda: len(records := job_records(worker)) == 3 and records, what="3 records")
    assert [(r["Outcome"], r["receiveCount"]) for r in outcomes] == [("retry", 1), ("retry", 2), ("failed", 3)]
    wait_for(lambda: queue_counts(sqs, settings.queue_url) == (0, 0, 0), what="the message deleted")


def test_a_stopping_worker_leaves_no_open_long_poll_behind(start_worker, settings, sqs):
    """A stopping worker waits its open long poll out (releasing what it brings back), so no
    dead request at SQS strands the next job behind the visibility timeout (130 s)."""
    poll_seconds = 6  # long enough to signal it mid-poll; any length shows the same thing
    worker = start_worker("long-poll", SOUNDBITE_WORKER_POLL_SECONDS=str(poll_seconds))
    wait_for(lambda: "worker started" in worker.log_path.read_text(), what="the worker to start")
    time.sleep(0.5)  # its first long poll is open

    os.killpg(worker.pid, signal.SIGTERM)
    assert worker.wait(poll_seconds + 10) == 0
    assert '"worker stopped"' in worker.log_path.read_text()
    # Published after the process is gone: a poll it abandoned would still be open at SQS and
    # take this message into flight for the whole visibility timeout.
    sqs.send_message(QueueUrl=settings.queue_url, MessageBody="{}")
    got = sqs.receive_message(QueueUrl=settings.queue_url, WaitTimeSeconds=5).get("Messages", [])
    assert len(got) == 1, "no dead request took the message into flight"
