"""`soundbite worker`: the consumer loop (`soundbite dlq` is in soundbite/dlq.py).

Thin faces: settings in, parts from `worker.factory`, one-line errors out.

Exit codes: 0 success; 1 error (bad settings, AWS failure); 2 usage (click's own).
"""

from __future__ import annotations

import os
import signal
import sys
import threading

import click

from soundbite import spec
from soundbite.core.config import ConfigError, Settings
from worker.config import MAX_CONCURRENCY


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


@click.command()
@click.option("--concurrency", type=click.IntRange(1, MAX_CONCURRENCY),
              help=f"Jobs at once [default: SOUNDBITE_WORKER_CONCURRENCY or {spec.WORKER_CONCURRENCY}].")
@click.option("--grace", "grace_seconds", type=click.FloatRange(0, spec.ECS_STOP_TIMEOUT_SECONDS, max_open=True),
              help=f"Seconds in-flight jobs get after SIGTERM [default: {spec.WORKER_GRACE_SECONDS}].")
@click.option("--wait", "poll_seconds", type=click.IntRange(0, spec.LONG_POLL_SECONDS),
              help=f"Long-poll wait in seconds [default: {spec.LONG_POLL_SECONDS}].")
@click.option("--time-limit", "time_limit_seconds",
              type=click.FloatRange(0, spec.LAMBDA_TIMEOUT_SECONDS, min_open=True),
              help=f"Seconds one synthesis may run before it is stopped "
                   f"[default: {spec.SYNTHESIS_TIME_LIMIT_SECONDS}].")
def worker(concurrency: int | None, grace_seconds: float | None, poll_seconds: int | None,
           time_limit_seconds: float | None) -> None:
    """Consume the jobs queue and synthesize speech until SIGTERM or SIGINT.

    Each synthesis runs in a child process of its own and is stopped after the time limit.
    With SOUNDBITE_REDIS_URL set, every worker sharing that Redis stays within the seed's
    cap of concurrent syntheses. On a signal it stops receiving, lets in-flight jobs finish
    within the grace period, makes the rest visible again for another worker, and exits 0.
    """
    from soundbite.core import logs
    from worker import factory
    from worker.config import WorkerSettings
    from worker.exceptions import WorkerError
    from worker.poller import Poller

    settings = _settings()
    try:
        options = WorkerSettings.from_env(
            concurrency=concurrency, grace_seconds=grace_seconds, poll_seconds=poll_seconds,
            time_limit_seconds=time_limit_seconds)
        queue_url = factory.require_queue(settings.queue_url, "SOUNDBITE_QUEUE_URL")
        # `concurrency` jobs synthesize at once; as many more are prefetched so their storage
        # round trips overlap a synthesis instead of sitting between two.
        processor = factory.build_worker_processor(settings, options)
        synthesizer = processor.handler.synthesizer
        synthesizer.voices()  # load the engine now: a broken install fails here
        synthesizer.start()  # and in every synthesis process
    except WorkerError as exc:
        raise click.ClickException(str(exc)) from exc
    logs.configure(settings.log_level, service="worker", backend=settings.backend)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    poller = Poller(queue_url, processor, concurrency=options.concurrency,
                    prefetch=options.concurrency,
                    wait_seconds=options.poll_seconds, grace_seconds=options.grace_seconds)
    stats = poller.run(stop)
    synthesizer.close()
    if stats.unfinished_at_exit:
        # Their messages are released; do not let interpreter shutdown wait on (or tear down
        # under) a speech engine still running in a daemon thread.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
