"""Builds the worker's parts from Settings: the handler, the batch processor, the SQS client.

The one place that wires adapters together, so the CLI and the Lambda entry stay thin and a
test can build the same parts around its own clients.
"""

from __future__ import annotations

from typing import TextIO

import boto3
from botocore.config import Config

from service import aws
from service.audio_store import AudioStore
from service.config import Settings
from service.metrics import MetricsEmitter
from service.repository import SoundbiteRepository
from worker.batch import BatchProcessor
from worker.exceptions import ConfigurationError
from worker.handler import JobHandler
from worker.metrics import WorkerMetrics
from worker.synth import Synthesizer, build_synthesizer

READ_MARGIN_SECONDS = 10
"""A long poll holds the connection for its whole wait; the read timeout must outlast it."""


def long_poll_sqs_client(wait_seconds: int):
    """An SQS client whose read timeout outlasts a long poll of `wait_seconds`."""
    config = aws.CLIENT_CONFIG.merge(Config(read_timeout=wait_seconds + READ_MARGIN_SECONDS))
    return boto3.session.Session().client("sqs", config=config)


def worker_metrics(settings: Settings, stream: TextIO | None = None) -> WorkerMetrics:
    return WorkerMetrics(MetricsEmitter(settings.environment, settings.backend, stream=stream))


def build_handler(settings: Settings, *, synthesizer: Synthesizer | None = None,
                  metrics: WorkerMetrics | None = None, dynamodb=None, s3=None,
                  synthesis_slots: int | None = None) -> JobHandler:
    return JobHandler(
        repository=SoundbiteRepository(settings.table, settings.environment, client=dynamodb),
        audio_store=AudioStore(settings.bucket, client=s3),
        synthesizer=synthesizer or build_synthesizer(settings.synthesizer),
        metrics=metrics if metrics is not None else worker_metrics(settings),
        synthesis_slots=synthesis_slots,
    )


def build_processor(settings: Settings, **parts) -> BatchProcessor:
    return BatchProcessor(build_handler(settings, **parts))


def require_queue(url: str, variable: str) -> str:
    if not url:
        raise ConfigurationError(f"{variable} is not set; point it at the queue's URL")
    return url
