"""Rate limits per client with `limits` (flask-limiter's own engine), announced in the standard
RateLimit-* headers.

One application-wide limit per client address (`SOUNDBITE_RATE_LIMIT`, `limits` syntax,
100 per 15 minutes by default), counted in fixed windows. It is one limit whenever more than
one process serves:

- With `SOUNDBITE_REDIS_URL` the counters live in Redis, shared by every process and instance.
  If Redis goes away the limiter counts in memory, each process its share as below, and goes
  back to Redis when it answers again (probed with exponential backoff).
- Without Redis each process counts in its own memory, so the limit is divided between the
  gunicorn workers (`SOUNDBITE_SERVING_PROCESSES`, set by the gunicorn config): 100 across
  two processes is 50 in each. A client never gets more than the limit, and the headers give
  the limit this process enforces, so "remaining" is never more than what it will accept.

Health checks and internal callers presenting the configured token are never limited.

flask-limiter resolves decorators, blueprints, exemption scopes and meta limits on every
request: about a quarter of a cached GET's time for one application-wide limit. The check
here is one counter increment per limit and one expiry read, on the same storages.
"""

from __future__ import annotations

import hmac
import logging
import math
import threading
import time
from dataclasses import dataclass

from flask import Flask, g, request
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage, Storage, storage_from_string

from service.api import context, telemetry
from service.api.problems import problem
from soundbite.core.cache.redis_layer import SOCKET_TIMEOUT_SECONDS
from soundbite.core.config import ConfigError, Settings

INTERNAL_TOKEN_HEADER = "X-Internal-Token"
EXEMPT_ENDPOINTS = frozenset({"meta.healthz", "meta.readyz"})
PROBE_FIRST_SECONDS, PROBE_MAX_SECONDS = 1.0, 32.0
"""While Redis is down, it is probed after 1 s, then 2, 4, ... up to 32 s apart."""
log = logging.getLogger("soundbite.api")


def client_address() -> str:
    """The caller's address. ProxyFix (the trusted hops) has already applied X-Forwarded-For."""
    return request.remote_addr or "unknown"


def _is_exempt(settings: Settings) -> bool:
    if request.endpoint in EXEMPT_ENDPOINTS:
        return True
    token = request.headers.get(INTERNAL_TOKEN_HEADER, "")
    return bool(settings.internal_token and token) and hmac.compare_digest(
        token.encode(), settings.internal_token.encode())


def process_limit(settings: Settings) -> str:
    """The limit this process enforces: the whole limit with Redis, else its share of it."""
    if settings.redis_url:
        _parse(settings.rate_limit)
        return settings.rate_limit
    return process_share(settings)


def process_share(settings: Settings) -> str:
    """This process's share of the limit when it counts in its own memory: the limit divided
    between the serving processes (without Redis, or while Redis is down)."""
    limits = _parse(settings.rate_limit)
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


def _parse(limit: str) -> list[RateLimitItem]:
    try:
        return parse_many(limit)
    except ValueError as exc:
        raise ConfigError(
            f"SOUNDBITE_RATE_LIMIT is not a rate limit such as '100 per 15 minutes': "
            f"{limit!r}") from exc


@dataclass(frozen=True)
class Decision:
    """One request's count against the limit the headers announce (the one nearest its end)."""

    allowed: bool
    limit: RateLimitItem
    remaining: int
    reset_seconds: int


class ClientLimits:
    """Fixed-window counters per client in one storage, with memory standing in while a shared
    storage (Redis) does not answer."""

    def __init__(self, limits: list[RateLimitItem], storage: Storage, scope: str,
                 fallback: list[RateLimitItem] | None = None, now=time.time) -> None:
        self._limits, self._storage = limits, storage
        self._fallback = fallback
        self._fallback_storage: MemoryStorage | None = None
        self._scope = scope
        self._now = now
        self._lock = threading.Lock()
        self._next_probe = 0.0
        self._probe_after = PROBE_FIRST_SECONDS

    def hit(self, client: str) -> Decision:
        storage, limits = self._current()
        try:
            return self._count(storage, limits, client)
        except Exception:
            if self._fallback is None or storage is not self._storage:
                raise
            self._storage_failed()
            return self._count(self._fallback_storage, self._fallback, client)

    def _count(self, storage: Storage, limits: list[RateLimitItem], client: str) -> Decision:
        decision = None
        for item in limits:
            key = item.key_for(self._scope, client)
            used = storage.incr(key, item.get_expiry())
            remaining = item.amount - used
            if decision is None or remaining < decision.remaining:
                reset = max(0, math.ceil(storage.get_expiry(key) - self._now()))
                decision = Decision(remaining >= 0, item, max(0, remaining), reset)
            if remaining < 0:
                break
        return decision

    def _current(self) -> tuple[Storage, list[RateLimitItem]]:
        if self._fallback_storage is None:
            return self._storage, self._limits
        with self._lock:
            if self._fallback_storage is None or self._now() < self._next_probe:
                probe = False
            else:
                probe = True
                self._next_probe = self._now() + self._probe_after
                self._probe_after = min(PROBE_MAX_SECONDS, self._probe_after * 2)
        if probe and self._storage.check():
            log.info("rate limit storage answers again: counting there")
            self._fallback_storage = None
            return self._storage, self._limits
        fallback = self._fallback_storage
        if fallback is None:
            return self._storage, self._limits
        return fallback, self._fallback

    def _storage_failed(self) -> None:
        with self._lock:
            if self._fallback_storage is None:
                log.warning("rate limit storage unreachable: each process counts its share in "
                            "memory until it answers", exc_info=True)
                self._fallback_storage = MemoryStorage()
                self._probe_after = PROBE_FIRST_SECONDS
                self._next_probe = self._now() + self._probe_after


def build(settings: Settings) -> ClientLimits:
    limits = _parse(process_limit(settings))
    scope = context.key_prefix(settings) + "ratelimit"
    if not settings.redis_url:
        return ClientLimits(limits, MemoryStorage(), scope)
    # Fail fast: a Redis that does not answer must cost a request milliseconds, not seconds,
    # before the limiter falls back to memory.
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    storage = storage_from_string(
        settings.redis_url, socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_timeout=SOCKET_TIMEOUT_SECONDS, retry=Retry(NoBackoff(), 0))
    return ClientLimits(limits, storage, scope, fallback=_parse(process_share(settings)))


def init_app(app: Flask, settings: Settings) -> ClientLimits:
    limit = process_limit(settings)
    if not settings.redis_url and limit != settings.rate_limit:
        log.warning("no SOUNDBITE_REDIS_URL: the rate limit is divided between the serving processes",
                    extra={"rateLimit": settings.rate_limit, "perProcess": limit,
                           "processes": settings.serving_processes})
    limiter = build(settings)
    app.extensions["soundbite"]["limiter"] = limiter

    @app.before_request
    def _check():
        if _is_exempt(settings):
            return None
        try:
            decision = limiter.hit(client_address())
        except Exception:  # no storage answers: serve unlimited rather than not at all
            log.warning("rate limit unavailable", exc_info=True)
            return None
        g.rate_limit = decision
        if decision.allowed:
            return None
        telemetry.count("RateLimited")
        return problem(429, "rate-limited", "Too many requests",
                       f"the limit is {decision.limit}; retry after the time in Retry-After")

    @app.after_request
    def _headers(response):
        decision = g.get("rate_limit")
        if decision is None:
            return response
        headers = response.headers
        headers["RateLimit-Limit"] = str(decision.limit.amount)
        headers["RateLimit-Remaining"] = str(decision.remaining)
        headers["RateLimit-Reset"] = str(decision.reset_seconds)
        if not decision.allowed:
            headers["Retry-After"] = str(max(1, decision.reset_seconds))
        return response

    return limiter
