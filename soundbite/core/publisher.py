"""Queue a synthesis job for a soundbite on the jobs queue."""

from __future__ import annotations

import json
import time

from soundbite import spec
from soundbite.core import aws
from soundbite.core.domain import Soundbite
from soundbite.core.exceptions import DependencyUnavailable


def job_body(soundbite: Soundbite, enqueued_at: float) -> str:
    return json.dumps({
        "id": soundbite.id, "environment": soundbite.environment, "enqueuedAt": enqueued_at,
    })


class JobPublisher:
    def __init__(self, queue_url: str, client=None, now=time.time) -> None:
        self.queue_url = queue_url
        self._client = client
        self._now = now

    client = aws.LazyClient("sqs")

    def publish(self, soundbite: Soundbite, correlation_id: str = "") -> str:
        try:
            result = self.client.send_message(
                QueueUrl=self.queue_url,
                DelaySeconds=spec.JOB_DELAY_SECONDS,
                MessageBody=job_body(soundbite, self._now()),
                MessageAttributes={
                    "correlationId": {"DataType": "String", "StringValue": correlation_id or "-"},
                    "voice": {"DataType": "String", "StringValue": soundbite.voice},
                },
            )
        except aws.AWS_ERRORS as exc:
            raise DependencyUnavailable("sqs", f"could not queue the job ({aws.error_code(exc)})") from exc
        return result["MessageId"]
