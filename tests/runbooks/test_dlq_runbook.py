"""The DLQ runbook, run word for word against the emulator with a transient dead letter and a
poison one (already redriven the maximum number of times), in a production environment.

What the runbook promises: inspecting and the dry run move nothing; the redrive sends the
transient message back to the jobs queue, delayed by its backoff, with its attributes and the
redrive metadata; the poison message is refused and is all that stays in the DLQ.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from soundbite import spec
from soundbite.core.domain import CreateRequest, new_soundbite
from soundbite.core.publisher import job_body
from soundbite.spec import PRODUCTION
from tests.runbooks import runbook_text as rb
from tests.runbooks.command_checks import ROOT
from worker.messages import ORIGINAL_MESSAGE_ID, REDRIVE_COUNT, REDRIVEN_AT

pytestmark = pytest.mark.timeout(120)

COMMAND_TIMEOUT_SECONDS = 60


def dead_letter(sqs, dlq_url: str, environment: str, redrives: int) -> tuple[str, str]:
    """A job message as the API publishes it, placed in the DLQ; returns (message id, soundbite id)."""
    soundbite = new_soundbite(CreateRequest("Hello from the dead-letter queue.", spec.DEFAULT_VOICE,
                                            spec.DEFAULT_FORMAT), environment, None)
    attributes = {"correlationId": {"DataType": "String", "StringValue": f"runbook-{soundbite.id[:8]}"},
                  "voice": {"DataType": "String", "StringValue": soundbite.voice}}
    if redrives:
        attributes[REDRIVE_COUNT] = {"DataType": "Number", "StringValue": str(redrives)}
    sent = sqs.send_message(QueueUrl=dlq_url, MessageBody=job_body(soundbite, time.time()),
                            MessageAttributes=attributes)
    return sent["MessageId"], soundbite.id


def counts(sqs, url: str) -> dict[str, int]:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
             "ApproximateNumberOfMessagesDelayed"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return {name.removeprefix("ApproximateNumberOfMessages") or "visible": int(attrs[name]) for name in names}


def receive_within(sqs, url: str, seconds: float) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"], WaitTimeSeconds=5,
                                       MaxNumberOfMessages=1).get("Messages", [])
        if messages:
            return messages[0]
    pytest.fail(f"nothing arrived on the jobs queue within {seconds:.0f} s")


def test_the_dlq_runbook_redrives_the_transient_letter_and_leaves_the_poison_one(
        fresh_data_plane, boto_session):
    plane, sqs = fresh_data_plane, boto_session.client("sqs")
    transient_id, soundbite_id = dead_letter(sqs, plane.dlq_url, plane.environment, redrives=0)
    poison_id, _ = dead_letter(sqs, plane.dlq_url, plane.environment, redrives=spec.REDRIVE_MAX_COUNT)
    env = {**os.environ, **plane.service_env(), "SOUNDBITE_ENVIRONMENT": PRODUCTION, "COLUMNS": "200",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    commands = rb.marked_commands("dlq")
    assert all(not rb.placeholders(c) for c in commands), "the DLQ commands take their stack from the environment"

    outputs = {}
    for command in commands:
        result = subprocess.run(["bash", "-c", command], env=env, cwd=ROOT, capture_output=True, text=True,
                                timeout=COMMAND_TIMEOUT_SECONDS)
        assert result.returncode == 0, (command, result.stdout, result.stderr)
        outputs.setdefault(command, []).append(result.stdout)
        if "--yes" not in command and "--json" not in command:
            assert counts(sqs, plane.dlq_url)["visible"] == 2, f"{command} moved something"
            assert counts(sqs, plane.queue_url) == {"visible": 0, "NotVisible": 0, "Delayed": 0}

    [first_look] = outputs["soundbite dlq inspect"]
    assert "2 dead letter(s)" in first_look and soundbite_id in first_look
    assert "would redrive: 1  refused: 1" in outputs["soundbite dlq redrive --dry-run"][0]
    assert "redriven: 1  refused: 1  errors: 0" in outputs["soundbite dlq redrive --yes"][0]
    left = json.loads(outputs["soundbite dlq inspect --json"][0])
    assert [(m["message_id"], m["redrive_count"]) for m in left["messages"]] == [
        (poison_id, spec.REDRIVE_MAX_COUNT)]
    assert counts(sqs, plane.queue_url)["Delayed"] == 1, "redriven with its backoff delay"

    redriven_at = time.time()
    message = receive_within(sqs, plane.queue_url, spec.REDRIVE_BASE_DELAY_SECONDS + 20)
    attrs = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert json.loads(message["Body"])["id"] == soundbite_id
    assert attrs["voice"] == spec.DEFAULT_VOICE and attrs["correlationId"].startswith("runbook-")
    assert (attrs[REDRIVE_COUNT], attrs[ORIGINAL_MESSAGE_ID]) == ("1", transient_id)
    stamp = datetime.strptime(attrs[REDRIVEN_AT], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    assert abs(stamp - redriven_at) < spec.REDRIVE_BASE_DELAY_SECONDS
