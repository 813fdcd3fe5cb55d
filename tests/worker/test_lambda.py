"""The Lambda entry: same processing, partial batch failures; the scheduled redrive."""

from __future__ import annotations

import threading

import pytest

from soundbite import spec
from soundbite.core.domain import Status
from tests.worker.conftest import queue_counts, wait_for
from worker import lambda_handler
from worker.exceptions import RedriveRefused
from worker.redrive import DlqRedriver
from worker.synth.isolated import IsolatedSynthesizer
from worker.synthesis_cap import RedisSynthesisCap


def lambda_event(messages: list[dict], queue_arn: str) -> dict:
    """The SQS event Lambda builds from received messages (AWS's documented shape)."""
    return {"Records": [{
        "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
        "attributes": {k: v for k, v in m.get("Attributes", {}).items()},
        "messageAttributes": {k: {"stringValue": v["StringValue"], "dataType": v["DataType"]}
                              for k, v in m.get("MessageAttributes", {}).items()},
        "eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": "us-east-1",
    } for m in messages]}


def receive_all(sqs, url: str, count: int) -> list[dict]:
    messages: list[dict] = []
    while len(messages) < count:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=3,
                                  AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])
        assert got, "expected more messages"
        messages += got
    return messages


def test_lambda_reports_only_the_transient_failure(create_soundbite, make_processor, processor, settings, sqs, repo):
    good, _ = create_soundbite()
    bad_voice, _ = create_soundbite(voice="tlh")
    event = lambda_event(receive_all(sqs, settings.queue_url, 2), "arn:aws:sqs:us-east-1:123456789012:jobs")
    # A third record whose upload fails: the only one Lambda must retry.
    retry, retry_id = create_soundbite()
    [retry_message] = receive_all(sqs, settings.queue_url, 1)
    event["Records"] += lambda_event([retry_message], "arn")["Records"]

    ok = lambda_handler.handler({"Records": event["Records"][:2]}, None, processor=processor)
    failing = lambda_handler.handler({"Records": event["Records"][2:]}, None,
                                     processor=make_processor(bucket=f"{settings.bucket}-missing"))

    assert ok == {"batchItemFailures": []}
    assert failing == {"batchItemFailures": [{"itemIdentifier": retry_id}]}
    assert repo.get(good.id).status is Status.READY
    assert repo.get(bad_voice.id).status is Status.FAILED
    assert repo.get(retry.id).status is Status.PROCESSING


def test_scheduled_redrive_moves_dead_letters_outside_production(settings, sqs):
    sqs.send_message(QueueUrl=settings.dlq_url, MessageBody='{"id": "x"}')

    summary = lambda_handler.scheduled_redrive(
        {}, None, settings=settings, redriver=DlqRedriver(settings.dlq_url, settings.queue_url))

    assert summary["redriven"] == 1
    assert queue_counts(sqs, settings.dlq_url) == (0, 0, 0)


def test_scheduled_redrive_refuses_in_production(settings, sqs):
    sqs.send_message(QueueUrl=settings.dlq_url, MessageBody='{"id": "x"}')
    prod = settings.updated({"environment": "prod"})

    with pytest.raises(RedriveRefused, match="manual"):
        lambda_handler.scheduled_redrive(
            {}, None, settings=prod, redriver=DlqRedriver(settings.dlq_url, settings.queue_url))
    assert queue_counts(sqs, settings.dlq_url) == (1, 0, 0)


@pytest.fixture
def lambda_processor(settings, throwaway_redis, monkeypatch):
    """The processor the Lambda entry builds for itself, from settings that name a Redis."""
    monkeypatch.setattr(lambda_handler, "_settings", lambda: settings.updated({"redis_url": throwaway_redis.url}))
    lambda_handler._processor.cache_clear()
    processor = lambda_handler._processor()
    yield processor
    getattr(processor.handler.synthesizer, "close", lambda: None)()
    lambda_handler._processor.cache_clear()


@pytest.mark.xdist_group("synthesis-children")
def test_the_lambda_synthesizes_under_the_time_limit_and_within_the_shared_cap(
        lambda_processor, throwaway_redis, create_soundbite, settings, sqs, repo):
    handler = lambda_processor.handler
    assert isinstance(handler.synthesizer, IsolatedSynthesizer)
    assert handler.synthesizer.time_limit == spec.SYNTHESIS_TIME_LIMIT_SECONDS
    # Every shared slot is taken by other workers: the Lambda's job waits for one.
    others = RedisSynthesisCap(throwaway_redis.client(), settings.environment)
    tokens = [others.acquire() for _ in range(spec.MAX_CONCURRENT_SYNTHESES)]
    soundbite, _ = create_soundbite()
    event = lambda_event(receive_all(sqs, settings.queue_url, 1), "arn")
    box: dict = {}
    invocation = threading.Thread(target=lambda: box.update(response=lambda_handler.handler(event)),
                                  daemon=True)
    invocation.start()

    wait_for(lambda: repo.get(soundbite.id).status is Status.PROCESSING, what="the job to start")
    invocation.join(2)
    assert invocation.is_alive(), "the Lambda synthesized past the shared cap"
    others.release(tokens.pop())
    invocation.join(90)

    assert box.get("response") == {"batchItemFailures": []}
    assert repo.get(soundbite.id).status is Status.READY
    for token in tokens:
        others.release(token)


def test_the_lambda_reads_the_workers_time_limit_setting(lambda_processor, monkeypatch):
    monkeypatch.setenv("SOUNDBITE_WORKER_TIME_LIMIT_SECONDS", "7")
    lambda_handler._processor.cache_clear()
    processor = lambda_handler._processor()
    try:
        assert processor.handler.synthesizer.time_limit == 7
        assert processor.handler.synthesizer.processes == lambda_handler.LAMBDA_SYNTHESIS_SLOTS
    finally:
        getattr(processor.handler.synthesizer, "close", lambda: None)()
