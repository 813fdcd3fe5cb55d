"""AWS Lambda entry points: the SQS consumer (partial batch responses) and the scheduled redrive.

`handler` runs the same batch processor and job handler as `soundbite worker`, built once per
container from the `SOUNDBITE_*` environment by the same function
(`factory.build_worker_processor`): each synthesis in a child process under the time limit,
within the synthesis cap shared through Redis. Failed messages are returned as
`batchItemFailures` (the event source mapping needs `ReportBatchItemFailures`), so only they
are retried. `scheduled_redrive` is what the dev and staging schedule invokes.
"""

from __future__ import annotations

import logging
from functools import cache

from soundbite.core import logs
from soundbite.core.config import Settings
from worker import factory
from worker.batch import BatchProcessor, batch_item_failures
from worker.messages import from_lambda_record
from worker.redrive import DEFAULT_LIMIT, DlqRedriver, check_allowed

log = logging.getLogger("soundbite.worker")


@cache
def _settings() -> Settings:
    settings = Settings.from_env()
    logs.configure(settings.log_level, service="worker", backend=settings.backend)
    return settings


LAMBDA_SYNTHESIS_SLOTS = 1
"""One invocation handles its batch one record at a time, so one synthesis process serves it."""


@cache
def _processor() -> BatchProcessor:
    # As `soundbite worker` builds it: under the synthesis time limit, within the shared cap.
    return factory.build_worker_processor(_settings(), synthesis_slots=LAMBDA_SYNTHESIS_SLOTS)


def handler(event: dict, context=None, processor: BatchProcessor | None = None) -> dict:
    """Process an SQS event; returns the messages to retry."""
    processor = processor or _processor()
    records = [r for r in event.get("Records", []) if r.get("eventSource", "aws:sqs") == "aws:sqs"]
    results = processor.process_batch(from_lambda_record(r) for r in records)
    response = batch_item_failures(results)
    log.info("batch processed", extra={
        "records": len(records), "failures": len(response["batchItemFailures"])})
    return response


def scheduled_redrive(event: dict, context=None, redriver: DlqRedriver | None = None,
                      settings: Settings | None = None) -> dict:
    """Redrive the DLQ on a schedule; refuses in production, where redrives are manual."""
    settings = settings or _settings()
    # A schedule is unattended by definition, so it never counts as confirmation.
    check_allowed(settings.environment, confirmed=False)
    redriver = redriver or factory.build_redriver(settings, factory.worker_metrics(settings))
    limit = int(event.get("max", DEFAULT_LIMIT)) if isinstance(event, dict) else DEFAULT_LIMIT
    return redriver.redrive(limit).to_dict()
