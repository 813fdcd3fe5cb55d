"""Request metrics as CloudWatch EMF lines: latency per request, plus what the request counted.

Views and hooks call `count(...)` during a request; one EMF record per request carries the
latency and those counts, so CloudWatch sums them per environment and backend.
"""

from __future__ import annotations

import time

from flask import Flask, g, has_request_context, request

from service.api import context
from soundbite.core.domain import Soundbite


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


def register(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        g.metric_started = time.perf_counter()

    @app.after_request
    def _emit(response):
        started = g.get("metric_started")
        if started is None:
            return response
        metrics = {"RequestLatency": ((time.perf_counter() - started) * 1000, "Milliseconds"),
                   **g.get("metric_counts", {})}
        context.metrics().emit(metrics, properties={
            "method": request.method, "route": request.url_rule.rule if request.url_rule else "",
            "status": response.status_code, "correlationId": g.get("correlation_id", ""),
        })
        return response
