"""One soundbite through the whole worker path on the emulator: queue -> speech -> S3 -> ready."""

from __future__ import annotations

import io
import json
import wave

import soundfile

from soundbite.core.domain import Status
from tests.worker.conftest import TEXT_200, emf_records, queue_counts, wait_for
from worker.handler import Outcome
from worker.messages import QueueMessage


def test_created_soundbite_becomes_ready_with_playable_wav(
        create_soundbite, processor, start_poller, repo, settings, s3, sqs):
    soundbite, _ = create_soundbite(fmt="wav")

    running = start_poller(processor)
    done = wait_for(lambda: (sb := repo.get(soundbite.id)).status is Status.READY and sb,
                    what="the soundbite to become ready")
    running.stop()

    obj = s3.get_object(Bucket=settings.bucket, Key=done.audio_key)
    assert done.audio_key == f"audio/{settings.environment}/{soundbite.id}.wav"
    assert obj["ContentType"] == "audio/wav"
    assert obj["ServerSideEncryption"] == "AES256"
    data = obj["Body"].read()
    assert len(data) == done.audio_bytes
    with wave.open(io.BytesIO(data)) as audio:
        assert audio.getnchannels() == 1 and audio.getsampwidth() == 2
        seconds = audio.getnframes() / audio.getframerate()
    assert seconds > 5  # 200 characters of speech
    assert abs(seconds - done.duration_seconds) < 0.01
    assert queue_counts(sqs, settings.queue_url) == (0, 0, 0), "the message was deleted"


def test_mp3_soundbite_decodes_and_is_stored_as_mpeg(create_soundbite, processor, start_poller, repo, settings, s3):
    soundbite, _ = create_soundbite(fmt="mp3")

    running = start_poller(processor)
    done = wait_for(lambda: (sb := repo.get(soundbite.id)).status is Status.READY and sb)
    running.stop()

    obj = s3.get_object(Bucket=settings.bucket, Key=done.audio_key)
    assert obj["ContentType"] == "audio/mpeg"
    info = soundfile.info(io.BytesIO(obj["Body"].read()))
    assert info.frames / info.samplerate > 5


def test_metrics_report_synthesis_time_text_length_voice_outcome_and_queue_wait(
        create_soundbite, processor, start_poller, repo, metrics_out):
    soundbite, _ = create_soundbite(voice="en-gb")

    running = start_poller(processor)
    wait_for(lambda: repo.get(soundbite.id).status is Status.READY)
    running.stop()

    records = emf_records(metrics_out)
    job = next(r for r in records if "Jobs" in r)
    assert job["Outcome"] == "ready" and job["soundbiteId"] == soundbite.id
    assert job["TextLength"] == len(TEXT_200)
    assert job["SynthesisTime"] > 0 and job["QueueWait"] >= 0
    assert job["correlationId"] == f"test-{soundbite.id[:8]}"
    names = {m["Name"] for m in job["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert {"Jobs", "QueueWait", "TextLength", "SynthesisTime", "AudioDuration"} <= names
    voice = next(r for r in records if "Syntheses" in r)
    assert voice["Voice"] == "en-gb"
    assert voice["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Backend", "Environment", "Voice"]]


def test_duplicate_delivery_does_not_synthesize_twice(
        create_soundbite, processor, start_poller, repo, synth, settings, sqs):
    soundbite, _ = create_soundbite(copies=2)  # two messages for one soundbite

    running = start_poller(processor, concurrency=1)
    wait_for(lambda: repo.get(soundbite.id).status is Status.READY)
    wait_for(lambda: queue_counts(sqs, settings.queue_url) == (0, 0, 0), what="both messages deleted")
    stats = running.stop()

    assert len(synth.calls) == 1
    assert stats.acknowledged == 2


def test_redelivery_of_the_same_message_is_acknowledged_without_work(create_soundbite, processor, repo, synth):
    soundbite, message_id = create_soundbite()
    body = json.dumps({"id": soundbite.id, "environment": soundbite.environment, "enqueuedAt": 0})
    message = QueueMessage(message_id=message_id, body=body)

    first = processor.process(message)
    again = processor.process(QueueMessage(message_id=message_id, body=body, receive_count=2))

    assert (first.outcome, again.outcome) == (Outcome.READY, Outcome.ALREADY_DONE)
    assert again.acknowledged
    assert len(synth.calls) == 1


def test_voice_the_synthesizer_lacks_marks_the_soundbite_failed_and_is_not_retried(
        create_soundbite, processor, start_poller, repo, settings, sqs, synth):
    soundbite, _ = create_soundbite(voice="tlh")  # not a voice espeak offers here

    running = start_poller(processor)
    failed = wait_for(lambda: (sb := repo.get(soundbite.id)).status is Status.FAILED and sb)
    wait_for(lambda: queue_counts(sqs, settings.queue_url) == (0, 0, 0), what="the message deleted")
    running.stop()

    assert failed.failure_reason.startswith("unsupported_voice: unknown voice 'tlh'")
    assert queue_counts(sqs, settings.dlq_url) == (0, 0, 0)


def test_unknown_soundbite_and_malformed_messages_are_dropped(processor, settings, sqs, start_poller, metrics_out):
    sqs.send_message(QueueUrl=settings.queue_url, MessageBody=json.dumps(
        {"id": "0" * 32, "environment": settings.environment, "enqueuedAt": 0}))
    sqs.send_message(QueueUrl=settings.queue_url, MessageBody="not json")

    running = start_poller(processor)
    wait_for(lambda: queue_counts(sqs, settings.queue_url) == (0, 0, 0), what="both messages deleted")
    running.stop()

    outcomes = [r["Outcome"] for r in emf_records(metrics_out) if "Jobs" in r]
    assert outcomes == ["dropped", "dropped"]
    assert queue_counts(sqs, settings.dlq_url) == (0, 0, 0)


def test_a_job_queued_before_its_record_is_retried_then_processed(processor, repo, settings):
    import time

    from soundbite.core.domain import CreateRequest, new_soundbite

    soundbite = new_soundbite(CreateRequest("Queued first, written second", "en-us", "wav"),
                              settings.environment, None)
    body = json.dumps({"id": soundbite.id, "environment": soundbite.environment,
                       "enqueuedAt": time.time()})
    early = processor.process(QueueMessage(message_id="m-early", body=body))
    assert (early.outcome, early.acknowledged) == (Outcome.RETRY, False)  # kept for redelivery
    repo.create(soundbite)  # the API's write lands
    later = processor.process(QueueMessage(message_id="m-early", body=body))
    assert (later.outcome, later.acknowledged) == (Outcome.READY, True)
    assert repo.get(soundbite.id).status is Status.READY


def test_text_the_synthesizer_rejects_marks_the_soundbite_failed(create_soundbite, processor, repo):
    soundbite, message_id = create_soundbite(text="\x00\x01 \x7f")
    body = json.dumps({"id": soundbite.id, "environment": soundbite.environment, "enqueuedAt": 0})

    result = processor.process(QueueMessage(message_id=message_id, body=body))

    assert (result.outcome, result.acknowledged) == (Outcome.FAILED, True)
    failed = repo.get(soundbite.id)
    assert failed.status is Status.FAILED
    assert failed.failure_reason == "text_rejected: text is empty"


def test_a_job_for_another_environment_is_dropped_untouched(create_soundbite, processor, repo, synth):
    soundbite, message_id = create_soundbite()
    body = json.dumps({"id": soundbite.id, "environment": "elsewhere", "enqueuedAt": 0})

    result = processor.process(QueueMessage(message_id=message_id, body=body))

    assert result.outcome is Outcome.DROPPED
    assert "elsewhere" in result.message.body and repo.get(soundbite.id).status is Status.PENDING
    assert synth.calls == []
