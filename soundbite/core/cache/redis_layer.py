"""An optional Redis layer shared by every API process, that steps aside when Redis fails.

Values are JSON, zlib-compressed above a size threshold, under an environment prefix so
environments sharing one Redis never read each other's entries. When Redis errors, the
layer goes quiet for a backoff that doubles on each failure (up to a ceiling) and then
tries again; callers fall back to their in-process LRU meanwhile and never see the error.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import zlib
from collections.abc import Callable
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from soundbite import spec

SOCKET_TIMEOUT_SECONDS = spec.REDIS_SOCKET_TIMEOUT_SECONDS
"""Redis answers in well under a millisecond; a quarter second means it is not answering."""
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 30.0
_RAW, _ZLIB = b"j", b"z"
log = logging.getLogger("soundbite.cache")


def connect(url: str):
    """A Redis client that fails fast: no retries inside redis-py, short socket timeouts."""
    return redis.Redis.from_url(
        url, socket_connect_timeout=SOCKET_TIMEOUT_SECONDS, socket_timeout=SOCKET_TIMEOUT_SECONDS,
        retry=Retry(NoBackoff(), 0), health_check_interval=0,
    )


def encode(value: Any, compress_above: int = spec.CACHE_COMPRESS_ABOVE_BYTES) -> bytes:
    raw = json.dumps(value, separators=(",", ":")).encode()
    if len(raw) > compress_above:
        return _ZLIB + zlib.compress(raw)
    return _RAW + raw


def decode(blob: bytes) -> Any:
    marker, body = blob[:1], blob[1:]
    if marker == _ZLIB:
        body = zlib.decompress(body)
    elif marker != _RAW:
        raise ValueError("not a SoundBite cache entry")
    return json.loads(body)


class RedisLayer:
    """get/put of JSON values with absolute deadlines; silent (None) while Redis is down."""

    def __init__(self, url: str = "", prefix: str = "", client=None,
                 now: Callable[[], float] = time.time,
                 compress_above: int = spec.CACHE_COMPRESS_ABOVE_BYTES) -> None:
        self.prefix = prefix
        self.compress_above = compress_above
        self._client = client if client is not None else connect(url)
        self._now = now
        self._lock = threading.Lock()
        self._failures = 0
        self._retry_at = 0.0

    @property
    def available(self) -> bool:
        """False while backing off after a failure; the next call after the backoff retries."""
        return self._now() >= self._retry_at

    @property
    def failures(self) -> int:
        return self._failures

    def _call(self, operation: str, *args) -> Any:
        if not self.available:
            return None
        try:
            result = getattr(self._client, operation)(*args)
        except (redis.RedisError, OSError) as exc:
            with self._lock:
                self._failures += 1
                delay = min(BACKOFF_BASE_SECONDS * 2 ** (self._failures - 1), BACKOFF_MAX_SECONDS)
                self._retry_at = self._now() + delay
            log.warning("redis cache unavailable", extra={
                "operation": operation, "retry_in_seconds": delay, "reason": type(exc).__name__})
            return None
        if self._failures:
            with self._lock:
                self._failures, self._retry_at = 0, 0.0
            log.info("redis cache reconnected")
        return result

    def get(self, key: str) -> tuple[Any, float] | None:
        """The value and its absolute deadline, or None (absent, expired, or Redis down)."""
        blob = self._call("get", self.prefix + key)
        if blob is None:
            return None
        try:
            entry = decode(blob)
            return entry["v"], float(entry["e"])
        except (ValueError, KeyError, TypeError, zlib.error):
            return None  # a foreign or corrupt entry is a miss, never an error

    def put(self, key: str, value: Any, expires_at: float) -> None:
        remaining_ms = int((expires_at - self._now()) * 1000)
        if remaining_ms <= 0:
            return
        self._call("set", self.prefix + key,
                   encode({"v": value, "e": expires_at}, self.compress_above), None, remaining_ms)

    def delete(self, key: str) -> None:
        self._call("delete", self.prefix + key)
