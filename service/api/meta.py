"""Voices, health checks and the OpenAPI document."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait

from flask import Blueprint, current_app

from service.api import context, openapi
from service.api.problems import problem
from service.api.soundbites import json_response
from soundbite import spec
from soundbite.core import aws

bp = Blueprint("meta", __name__)
READINESS_DEADLINE_SECONDS = spec.HEALTH_CHECK_TIMEOUT_SECONDS - 1
"""A dependency that hangs must fail readiness before the load balancer's check times out;
with the clients' own timeouts and retries one frozen call could take 15 s or more."""


READINESS_CACHE_SECONDS = spec.READINESS_CACHE_SECONDS
"""A readiness answer is reused this long: /readyz is unlimited (health checks; the load balancer
does not serve it publicly), so a flood of it must not turn into three AWS calls per request."""


class _Readiness:
    """The last readiness answer of this process, and one probe at a time: while a probe runs,
    other callers get the last answer instead of waiting for (or starting) another."""

    def __init__(self) -> None:
        self.lock, self.at, self.answer = threading.Lock(), float("-inf"), None

    def _fresh(self) -> bool:
        return self.answer is not None and time.monotonic() - self.at < READINESS_CACHE_SECONDS

    def get(self, probe) -> dict[str, str]:
        if self._fresh():
            return self.answer
        if self.answer is not None:
            if not self.lock.acquire(blocking=False):
                return self.answer  # another caller is probing
        elif not self.lock.acquire(timeout=READINESS_DEADLINE_SECONDS + 1):
            return {"readiness": "unavailable (timeout)"}  # the first probe is stuck
        try:
            if not self._fresh():
                self.answer, self.at = probe(), time.monotonic()
            return self.answer
        finally:
            self.lock.release()


def _probe_pool() -> ThreadPoolExecutor:
    """A few threads per process for readiness probes, so stuck probes cannot pile up."""
    ext = current_app.extensions["soundbite"]
    if "readiness_probes" not in ext:
        ext["readiness_probes"] = ThreadPoolExecutor(max_workers=3, thread_name_prefix="readyz")
    return ext["readiness_probes"]


@bp.get("/v1/voices")
def voices():
    synth = context.catalog()
    return json_response({
        "voices": [
            {"id": v.id, "name": v.name, "language": v.language} for v in synth.voices()
        ],
        "formats": list(synth.formats()),
    })


@bp.get("/healthz")
def healthz():
    """Liveness: answers while the process can serve, whatever its dependencies do."""
    return json_response({"status": "ok"})


@bp.get("/readyz")
def readyz():
    """Readiness: DynamoDB, SQS and S3 each answer one cheap call with the app's own clients
    (at most once per READINESS_CACHE_SECONDS in each process)."""
    ext = current_app.extensions["soundbite"]
    if "readiness" not in ext:
        ext.setdefault("readiness", _Readiness())  # setdefault: two first callers share one
    results = ext["readiness"].get(_probe)
    failed = [name for name, result in results.items() if result != "ok"]
    if failed:
        return problem(503, "not-ready", "Not ready",
                       f"unavailable: {', '.join(failed)}", headers={"Retry-After": "5"},
                       checks=results)
    return json_response({"status": "ready", "checks": results})


def _probe() -> dict[str, str]:
    repo, queue, store = context.repository(), context.publisher(), context.audio_store()
    checks = {
        "dynamodb": lambda: repo.client.describe_table(TableName=repo.table),
        "sqs": lambda: queue.client.get_queue_attributes(
            QueueUrl=queue.queue_url, AttributeNames=["QueueArn"]),
        "s3": lambda: store.client.head_bucket(Bucket=store.bucket),
    }
    pool = _probe_pool()
    futures = {name: pool.submit(check) for name, check in checks.items()}
    done, _ = wait(futures.values(), timeout=READINESS_DEADLINE_SECONDS)
    results = {}
    for name, future in futures.items():
        if future not in done:
            future.cancel()  # still queued behind a stuck probe: never let the queue grow
            results[name] = "unavailable (timeout)"
        elif future.exception() is None:
            results[name] = "ok"
        elif isinstance(future.exception(), aws.AWS_ERRORS):
            results[name] = f"unavailable ({aws.error_code(future.exception())})"
        else:
            raise future.exception()
    return results


@bp.get("/openapi.json")
def openapi_document():
    synth = context.catalog()
    voices = tuple(v.id for v in synth.voices())
    return json_response(openapi.document(voices, tuple(synth.formats())))
