"""The Flask face of idempotency: wraps chosen views in the factory, maps outcomes to HTTP.

A wrapped view runs only when its request takes the key. Replays answer the stored status
and body byte for byte, with `Idempotent-Replayed: true`; everything per request (the
correlation id, rate-limit headers) is added by the usual hooks afterwards, and the fixed
security headers on the way out (`security.ResponseHeaders`).
"""

from __future__ import annotations

import functools
import json
import logging
import re
import uuid
from collections.abc import Callable

from flask import Flask, Response, current_app, request

from service.api import context, telemetry
from service.api.problems import problem
from soundbite.core.exceptions import InvalidRequest
from soundbite.core.idempotency import (
    IdempotencyInProgress,
    IdempotencyKeyReused,
    IdempotencyStoreUnavailable,
    IdempotentRequest,
    StoredResponse,
)
from soundbite.core.idempotency.config import REPLAYED_HEADER
from soundbite.core.idempotency.handler import payload_hash, record_key

KEPT_HEADERS = ("Content-Type", "Location")
log = logging.getLogger("soundbite.api")
UUID_V4_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-4[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$"
"""What an Idempotency-Key must look like (the OpenAPI document publishes it too)."""
_UUID = re.compile(UUID_V4_PATTERN)


def idempotency_key(header: str) -> str:
    """The request's key, a UUID v4 in canonical form (lowercased), or a 400 saying why."""
    raw = request.headers.get(header, "").strip()
    pointer = f"/headers/{header}"
    if not raw:
        raise InvalidRequest(f"the {header} header is required", [{
            "pointer": pointer,
            "detail": "send a fresh UUID v4 per operation, and the same one when you retry it",
        }])
    if not _UUID.match(raw):
        raise InvalidRequest(f"the {header} header is not a UUID v4", [{
            "pointer": pointer,
            "detail": "expected a UUID v4 such as " + str(uuid.uuid4()),
        }])
    return raw.lower()


def _capture(result) -> StoredResponse:
    response = current_app.make_response(result)
    headers = {k: response.headers[k] for k in KEPT_HEADERS if k in response.headers}
    return StoredResponse(response.status_code, response.get_data(as_text=True), headers)


def protect(app: Flask, endpoint: str, caller: Callable[[], str | None],
            ttl_seconds: int | None = None) -> None:
    """Make `endpoint` idempotent, keyed by the Idempotency-Key header scoped to `caller()`."""
    view = app.view_functions[endpoint]

    @functools.wraps(view)
    def idempotent_view(*args, **kwargs):
        config = context.idempotency_config()
        key = record_key(endpoint, caller(), idempotency_key(config.key_header))
        pending = IdempotentRequest(context.idempotency_store(), config, key,
                                    payload_hash(request.get_data(cache=True)), ttl_seconds)
        outcome = pending.run(lambda: _capture(view(*args, **kwargs)))
        stored = outcome.response
        response = Response(stored.body, status=stored.status, headers=stored.headers)
        if outcome.replayed:
            telemetry.count("IdempotencyReplay")
            response.headers[REPLAYED_HEADER] = "true"
        return response

    app.view_functions[endpoint] = idempotent_view


def _original(stored: StoredResponse | None) -> dict:
    if stored is None:
        return {}
    try:
        body = json.loads(stored.body)
    except ValueError:
        body = stored.body
    return {"status": stored.status, "headers": stored.headers, "body": body}


def register(app: Flask) -> None:
    """Problems for the idempotency outcomes a client can meet."""

    @app.errorhandler(IdempotencyKeyReused)
    def _reused(exc: IdempotencyKeyReused):
        telemetry.count("IdempotencyConflict")
        return problem(409, "idempotency-key-reused", "Idempotency-Key reused",
                       "this Idempotency-Key was already used with a different request body; "
                       "use a new key for a new request", originalResponse=_original(exc.original))

    @app.errorhandler(IdempotencyInProgress)
    def _in_progress(exc: IdempotencyInProgress):
        telemetry.count("IdempotencyConflict")
        return problem(409, "idempotency-in-progress", "Request still in progress",
                       "a request with this Idempotency-Key is still being processed; retry "
                       "after the indicated delay to get its response",
                       headers={"Retry-After": str(exc.retry_after_seconds)})

    @app.errorhandler(IdempotencyStoreUnavailable)
    def _store_down(exc: IdempotencyStoreUnavailable):
        log.warning("idempotency store unavailable", extra={"reason": str(exc)})
        return problem(503, "service-unavailable", "Service temporarily unavailable",
                       "the request could not be checked against earlier ones with the same "
                       "Idempotency-Key, so it was not run; retry with the same key",
                       headers={"Retry-After": "1"})
