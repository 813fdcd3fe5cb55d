"""Builds the worker's parts from Settings: the handler, the batch processor, the SQS client.

The one place that wires adapters together, so the CLI and the Lambda entry stay thin and a
test can build the same parts around its own clients.
"""

from __future__ import annotations

import functools
from typing import TextIO

import boto3
from botocore.config import Config

from soundbite.core import aws
from soundbite.core.audio_store import AudioStore
from soundbite.core.config import Settings
from soundbite.core.metrics import MetricsEmitter
from soundbite.core.repository import SoundbiteRepository
from worker.batch import BatchProcessor
from worker.config import WorkerSettings
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


def isolated_synthesizer(name: str, processes: int, time_limit: float) -> Synthesizer:
    """The synthesizer called `name`, run in `processes` child processes under `time_limit`."""
    from worker.synth.isolated import IsolatedSynthesizer

    return IsolatedSynthesizer(functools.partial(build_synthesizer, name),
                               processes=processes, time_limit=time_limit)


def synthesis_cap(settings: Settings):
    """The shared synthesis cap in the workers' Redis, or None when no Redis is configured."""
    if not settings.redis_url:
        return None
    from worker.synthesis_cap import RedisSynthesisCap

    return RedisSynthesisCap.from_url(settings.redis_url, settings.environment)


def build_handler(settings: Settings, *, synthesizer: Synthesizer | None = None,
                  metrics: WorkerMetrics | None = None, dynamodb=None, s3=None,
                  synthesis_slots: int | None = None, time_limit: float | None = None,
                  cap=None) -> JobHandler:
    """The job handler; with `time_limit`, synthesis runs in child processes (one per slot)."""
    if synthesizer is None and time_limit is not None:
        synthesizer = isolated_synthesizer(settings.synthesizer, synthesis_slots or 1, time_limit)
    return JobHandler(
        repository=SoundbiteRepository(settings.table, settings.environment, client=dynamodb),
        audio_store=AudioStore(settings.bucket, client=s3),
        synthesizer=synthesizer or build_synthesizer(settings.synthesizer),
        metrics=metrics if metrics is not None else worker_metrics(settings),
        synthesis_slots=synthesis_slots,
        synthesis_cap=cap,
    )


def build_processor(settings: Settings, **parts) -> BatchProcessor:
    return BatchProcessor(build_handler(settings, **parts))


def build_worker_processor(settings: Settings, options: WorkerSettings | None = None, *,
                           synthesis_slots: int | None = None) -> BatchProcessor:
    """The processor `soundbite worker` and the Lambda entry run: the one way to build it.

    Each synthesis runs in a child process stopped after the time limit (`options`, from
    `SOUNDBITE_WORKER_*` and the spec), and, with a Redis configured, within the cap every
    worker shares. `synthesis_slots` defaults to the options' concurrency.
    """
    options = options or WorkerSettings.from_env()
    return build_processor(
        settings, synthesis_slots=synthesis_slots or options.concurrency,
        time_limit=options.time_limit_seconds, cap=synthesis_cap(settings))


def require_queue(url: str, variable: str) -> str:
    if not url:
        raise ConfigurationError(f"{variable} is not set; point it at the queue's URL")
    return url


def build_redriver(settings: Settings, metrics: WorkerMetrics | None = None):
    """The DLQ redriver; refused messages mark their soundbite failed in the settings' table."""
    from worker.redrive import DlqRedriver

    return DlqRedriver(
        require_queue(settings.dlq_url, "SOUNDBITE_DLQ_URL"),
        require_queue(settings.queue_url, "SOUNDBITE_QUEUE_URL"),
        metrics=metrics,
        repository=SoundbiteRepository(settings.table, settings.environment) if settings.table else None)
