"""Rate limits per client with flask-limiter, announced in the standard RateLimit-* headers.

One application-wide limit per client address (`SOUNDBITE_RATE_LIMIT`, flask-limiter syntax,
100 per 15 minutes by default). It is one limit whenever more than one process serves:

- With `SOUNDBITE_REDIS_URL` the counters live in Redis, shared by every process and instance.
  If Redis goes away the limiter counts in memory, each process its share as below, and goes
  back to Redis when it answers again (flask-limiter probes it with exponential backoff).
- Without Redis each process counts in its own memory, so the limit is divided between the
  gunicorn workers (`SOUNDBITE_SERVING_PROCESSES`, set by the gunicorn config): 100 across
  two processes is 50 in each. A client never gets more than the limit, and the headers give
  the limit this process enforces, so "remaining" is never more than what it will accept.

Health checks and internal callers presenting the configured token are never limited.
"""

from __future__ import annotations

import hmac
import logging
import math
import time

from flask import Flask, request
from flask_limiter import Limiter, RateLimitExceeded
from limits import parse_many

from service.api import context, telemetry
from service.api.problems import problem
from soundbite.core.cache.redis_layer import SOCKET_TIMEOUT_SECONDS
from soundbite.core.config import ConfigError, Settings

INTERNAL_TOKEN_HEADER = "X-Internal-Token"
EXEMPT_ENDPOINTS = frozenset({"meta.healthz", "meta.readyz"})
log = logging.getLogger("soundbite.api")


def client_address() -> str:
    """The caller's address. ProxyFix (one trusted hop) has already applied X-Forwarded-For."""
    return request.remote_addr or "unknown"


def _is_exempt(settings: Settings) -> bool:
    if request.endpoint in EXEMPT_ENDPOINTS:
        return True
    token = request.headers.get(INTERNAL_TOKEN_HEADER, "")
    return bool(settings.internal_token and token) and hmac.compare_digest(
        token.encode(), settings.internal_token.encode())


def _storage(settings: Settings) -> tuple[str, dict]:
    if not settings.redis_url:
        return "memory://", {}
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    # Fail fast: a Redis that does not answer must cost a request milliseconds, not seconds,
    # before the limiter falls back to memory.
    return settings.redis_url, {
        "socket_connect_timeout": SOCKET_TIMEOUT_SECONDS, "socket_timeout": SOCKET_TIMEOUT_SECONDS,
        "retry": Retry(NoBackoff(), 0),
    }


def process_limit(settings: Settings) -> str:
    """The limit this process enforces: the whole limit with Redis, else its share of it."""
    if settings.redis_url:
        _parse(settings)
        return settings.rate_limit
    return process_share(settings)


def process_share(settings: Settings) -> str:
    """This process's share of the limit when it counts in its own memory: the limit divided
    between the serving processes (without Redis, or while Redis is down)."""
    limits = _parse(settings)
    processes = max(1, settings.serving_processes)
    if processes == 1:
        return settings.rate_limit
    shares = []
    for item in limits:
        if item.amount < processes:
            raise ConfigError(
                f"SOUNDBITE_RATE_LIMIT {settings.rate_limit!r} cannot be divided between "
                f"{processes} processes; raise it")
        shares.append(f"{item.amount // processes} per {item.multiples} {item.GRANULARITY.name}")
    return "; ".join(shares)


def _parse(settings: Settings):
    try:
        return parse_many(settings.rate_limit)
    except ValueError as exc:
        raise ConfigError(
            f"SOUNDBITE_RATE_LIMIT is not a rate limit such as '100 per 15 minutes': "
            f"{settings.rate_limit!r}") from exc


def init_app(app: Flask, settings: Settings) -> Limiter:
    limit = process_limit(settings)
    if not settings.redis_url and limit != settings.rate_limit:
        log.warning("no SOUNDBITE_REDIS_URL: the rate limit is divided between the serving processes",
                    extra={"rateLimit": settings.rate_limit, "perProcess": limit,
                           "processes": settings.serving_processes})
    uri, options = _storage(settings)
    limiter = Limiter(
        key_func=client_address,
        application_limits=[limit],
        storage_uri=uri,
        storage_options=options,
        # While Redis is down each process counts alone: its share, so still one limit.
        in_memory_fallback=[process_share(settings)] if settings.redis_url else [],
        key_prefix=context.key_prefix(settings) + "ratelimit",
        strategy="fixed-window",
        headers_enabled=False,  # its X-RateLimit-Reset is an epoch; ours below are not
    )
    limiter.request_filter(lambda: _is_exempt(settings))
    limiter.init_app(app)
    app.extensions["soundbite"]["limiter"] = limiter

    @app.errorhandler(RateLimitExceeded)
    def _limited(exc: RateLimitExceeded):
        telemetry.count("RateLimited")
        return problem(429, "rate-limited", "Too many requests",
                       f"the limit is {exc.limit.limit}; retry after the time in Retry-After")

    @app.after_request
    def _headers(response):
        current = limiter.current_limit
        if current is None:
            return response
        try:
            reset_time, remaining = current.window
        except Exception:  # storage failed after the check: no headers rather than no answer
            log.warning("rate limit headers unavailable", exc_info=True)
            return response
        seconds = max(0, math.ceil(reset_time - time.time()))
        response.headers["RateLimit-Limit"] = str(current.limit.amount)
        response.headers["RateLimit-Remaining"] = str(max(0, remaining))
        response.headers["RateLimit-Reset"] = str(seconds)
        if response.status_code == 429:
            response.headers["Retry-After"] = str(max(1, seconds))
        return response

    return limiter
