"""RFC 9457 problem responses for every 4xx and 5xx, with no internal detail leaking out."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from soundbite.core.exceptions import (
    DependencyUnavailable,
    InvalidRequest,
    NotFound,
    NotReady,
    ServiceError,
    StateConflict,
)

PROBLEM_TYPE_BASE = "https://soundbite.dev/problems/"
PROBLEM_CONTENT_TYPE = "application/problem+json"
log = logging.getLogger("soundbite.api")


def problem(status: int, slug: str, title: str, detail: str, headers: dict | None = None,
            **extensions) -> Response:
    body = {
        "type": PROBLEM_TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.path if request else "",
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "correlationId": g.get("correlation_id", ""),
        **extensions,
    }
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_CONTENT_TYPE)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _http_slug(code: int) -> str:
    return {
        400: "bad-request", 404: "not-found", 405: "method-not-allowed",
        413: "payload-too-large", 415: "unsupported-media-type", 429: "rate-limited",
        431: "headers-too-large",
    }.get(code, f"http-{code}")


def register(app: Flask) -> None:
    """Map every error to a problem; unknown exceptions become a bare 500."""

    @app.errorhandler(InvalidRequest)
    def _invalid(exc: InvalidRequest):
        return problem(400, "validation-error", "Your request is not valid", exc.detail,
                       errors=exc.errors)

    @app.errorhandler(NotFound)
    def _not_found(exc: NotFound):
        return problem(404, "not-found", "Soundbite not found", str(exc))

    @app.errorhandler(NotReady)
    def _not_ready(exc: NotReady):
        return problem(409, "audio-not-ready", "Audio not ready", str(exc), soundbiteStatus=exc.status)

    @app.errorhandler(StateConflict)
    def _conflict(exc: StateConflict):
        return problem(409, "conflict", "Conflict", str(exc))

    @app.errorhandler(DependencyUnavailable)
    def _unavailable(exc: DependencyUnavailable):
        log.warning("dependency unavailable", extra={"dependency": exc.dependency, "reason": str(exc)})
        return problem(503, "service-unavailable", "Service temporarily unavailable",
                       "a storage or queue service did not answer; retry with the same "
                       "Idempotency-Key", headers={"Retry-After": "1"})

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        code = exc.code or 500
        kept = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
        return problem(code, _http_slug(code), exc.name, exc.description or exc.name,
                       headers=kept)

    @app.errorhandler(ServiceError)
    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error")
        return problem(500, "internal-error", "Internal Server Error",
                       "the server could not complete the request; it has been logged")
