"""What every request leaves behind: its correlation id, one JSON log line, and its metrics.

The correlation id comes from `X-Correlation-Id` when it is well formed, else a new one; the
response echoes it and the log line carries it. A new one is 32 hex digits: 16 random per
process, then the process's request count (unique without asking the kernel for randomness
on every request, as `uuid4` does).

Views and hooks call `count(...)` during a request; at its end the latency and those counts go
into the process's metrics buffer, written as one EMF record per interval (soundbite.core.metrics),
so CloudWatch sums them and takes percentiles per environment and backend.
"""

from __future__ import annotations

import itertools
import os
import re
import secrets
import time

from flask import Flask, g, has_request_context, request

from service.api import context
from soundbite.core import logs
from soundbite.core.config import Settings
from soundbite.core.domain import Soundbite

CORRELATION_HEADER = "X-Correlation-Id"
_CORRELATION_OK = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class CorrelationIds:
    """New correlation ids: a random prefix per process and a counter (thread-safe: the
    counter advances atomically). A forked child takes a prefix of its own."""

    def __init__(self) -> None:
        self._renew()
        os.register_at_fork(after_in_child=self._renew)

    def _renew(self) -> None:
        self._prefix = secrets.token_hex(8)
        self._counter = itertools.count()

    def new(self) -> str:
        return f"{self._prefix}{next(self._counter):016x}"


new_correlation_id = CorrelationIds().new


def count(name: str, value: float = 1, unit: str = "Count") -> None:
    """Add to a counter reported with this request's metrics record."""
    if not has_request_context():
        return
    counters = g.setdefault("metric_counts", {})
    total, _ = counters.get(name, (0, unit))
    counters[name] = (total + value, unit)


def count_cache_lookup(outcome: str) -> None:
    count("CacheHit" if outcome == "hit" else "CacheMiss")


def record_creation(soundbite: Soundbite) -> None:
    """Voice distribution and text length, one record per accepted soundbite."""
    context.metrics().emit(
        {"SoundbitesCreated": (1, "Count"), "TextLength": (len(soundbite.text), "Count")},
        properties={"soundbiteId": soundbite.id, "format": soundbite.format},
        dimensions={"Voice": soundbite.voice},
    )


def register(app: Flask, settings: Settings) -> None:
    request_log = logs.fast_logger("soundbite.api")

    @app.before_request
    def _start() -> None:
        incoming = request.headers.get(CORRELATION_HEADER, "")
        g.correlation_id = incoming if _CORRELATION_OK.match(incoming) else new_correlation_id()
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response):
        correlation_id = g.get("correlation_id", "")
        response.headers[CORRELATION_HEADER] = correlation_id
        started = g.get("started")
        if started is None:  # a request another hook ended before ours began
            return response
        elapsed_ms = (time.perf_counter() - started) * 1000
        request_log.info(
            "request", method=request.method, path=request.path, status=response.status_code,
            duration_ms=round(elapsed_ms, 2), correlation_id=correlation_id,
            backend=settings.backend, environment=settings.environment)
        context.metrics().add(
            counts={"Requests": (1, "Count"), **g.get("metric_counts", {})},
            samples={"RequestLatency": (elapsed_ms, "Milliseconds")})
        return response
