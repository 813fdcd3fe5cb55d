"""Voices, health checks and the OpenAPI document."""

from __future__ import annotations

from flask import Blueprint

from service import aws
from service.api import context, openapi
from service.api.problems import problem
from service.api.soundbites import json_response

bp = Blueprint("meta", __name__)


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
    """Readiness: DynamoDB, SQS and S3 each answer one cheap call with the app's own clients."""
    repo, queue, store = context.repository(), context.publisher(), context.audio_store()
    checks = {
        "dynamodb": lambda: repo.client.describe_table(TableName=repo.table),
        "sqs": lambda: queue.client.get_queue_attributes(
            QueueUrl=queue.queue_url, AttributeNames=["QueueArn"]),
        "s3": lambda: store.client.head_bucket(Bucket=store.bucket),
    }
    results = {}
    for name, check in checks.items():
        try:
            check()
            results[name] = "ok"
        except aws.AWS_ERRORS as exc:
            results[name] = f"unavailable ({aws.error_code(exc)})"
    failed = [name for name, result in results.items() if result != "ok"]
    if failed:
        return problem(503, "not-ready", "Not ready",
                       f"unavailable: {', '.join(failed)}", headers={"Retry-After": "5"},
                       checks=results)
    return json_response({"status": "ready", "checks": results})


@bp.get("/openapi.json")
def openapi_document():
    synth = context.catalog()
    voices = tuple(v.id for v in synth.voices())
    return json_response(openapi.document(voices, tuple(synth.formats())))
