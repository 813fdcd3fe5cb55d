"""The seed's synthesis cap: at most `spec.MAX_CONCURRENT_SYNTHESES` at once across every
worker of both stacks, as leases in the Redis they share.

The leases are members of one sorted set scored by when they lapse (by Redis's own clock, so
no two hosts' clocks are compared). Taking a slot first drops lapsed leases, then adds one if
fewer than the cap remain: one Lua script, so two workers can never both take the last slot.
A worker renews its leases while their jobs run; one that dies stops renewing, and its slots
free themselves within `spec.SYNTHESIS_LEASE_SECONDS`.

No Redis configured means no shared cap: each worker keeps only its own concurrency. A
configured Redis that does not answer is a `SynthesisCapUnavailable` (transient: the job is
retried), never a synthesis past the cap.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator

from soundbite import spec
from worker.exceptions import SynthesisCapUnavailable

log = logging.getLogger("soundbite.worker")

KEY = "soundbite:{environment}:synthesis-slots"
"""One key per environment, not per stack: both stacks' workers count against one cap."""
WAIT_SECONDS = (0.05, 0.5)
"""Between two tries for a slot: a random pause in this range, so waiters do not march."""

_NOW = """
local now = redis.call('TIME')
return tonumber(now[1]) + tonumber(now[2]) / 1000000
"""
ACQUIRE = _NOW.replace("return", "local t =") + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], t + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2]) * 1000))
return 1
"""
RENEW = _NOW.replace("return", "local t =") + """
if not redis.call('ZSCORE', KEYS[1], ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], 'XX', t + tonumber(ARGV[1]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1]) * 1000))
return 1
"""
COUNT = _NOW.replace("return", "local t =") + """
return redis.call('ZCOUNT', KEYS[1], '(' .. t, '+inf')
"""


class RedisSynthesisCap:
    """Shared synthesis slots in Redis; `slot()` waits for one and holds it for a block."""

    def __init__(self, client, environment: str, *, limit: int = spec.MAX_CONCURRENT_SYNTHESES,
                 lease_seconds: float = spec.SYNTHESIS_LEASE_SECONDS, sleep=time.sleep,
                 on_wait: Callable[[], None] | None = None) -> None:
        self.client = client
        self.key = KEY.format(environment=environment)
        self.limit = limit
        self.lease_seconds = lease_seconds
        self._sleep = sleep
        self._on_wait = on_wait
        self._acquire = client.register_script(ACQUIRE)
        self._renew = client.register_script(RENEW)
        self._count = client.register_script(COUNT)
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._renewer: threading.Thread | None = None

    @classmethod
    def from_url(cls, url: str, environment: str, **options) -> RedisSynthesisCap:
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        return cls(client, environment, **options)

    @contextlib.contextmanager
    def slot(self) -> Iterator[str]:
        """Wait for a slot, hold it (renewed) for the block, then give it back."""
        token = self.acquire()
        try:
            yield token
        finally:
            self.release(token)

    def acquire(self) -> str:
        """A lease token, once fewer than `limit` leases are live; waits until then."""
        token = uuid.uuid4().hex
        announced = False
        while not self._call(self._acquire, [self.limit, self.lease_seconds, token]):
            if not announced:
                announced = True
                log.info("waiting for a synthesis slot", extra={"cap": self.limit})
                if self._on_wait is not None:
                    self._on_wait()
            self._sleep(random.uniform(*WAIT_SECONDS))
        with self._lock:
            self._held.add(token)
            if self._renewer is None:  # one renewer while any lease is held
                self._renewer = threading.Thread(target=self._renew_loop, name="synthesis-leases",
                                                 daemon=True)
                self._renewer.start()
        return token

    def release(self, token: str) -> None:
        with self._lock:
            self._held.discard(token)
        try:
            self.client.zrem(self.key, token)
        except Exception as exc:  # noqa: BLE001 - the lease lapses on its own
            log.warning("could not release a synthesis slot; it lapses by itself",
                        extra={"error": type(exc).__name__})

    def in_use(self) -> int:
        """Live leases across every worker."""
        return int(self._call(self._count, []))

    def renew(self) -> int:
        """Extend every lease this process holds; returns how many were still live."""
        with self._lock:
            held = list(self._held)
        live = 0
        for token in held:
            if self._call(self._renew, [self.lease_seconds, token]):
                live += 1
            else:
                log.warning("a synthesis lease lapsed while its job ran", extra={"cap": self.limit})
        return live

    def _call(self, script, args):
        import redis

        try:
            return script(keys=[self.key], args=args)
        except redis.RedisError as exc:
            raise SynthesisCapUnavailable(
                f"the synthesis cap's Redis does not answer ({type(exc).__name__})") from exc

    def _renew_loop(self) -> None:
        while True:
            self._sleep(self.lease_seconds / 3)
            with self._lock:
                if not self._held:
                    self._renewer = None
                    return
            try:
                self.renew()
            except SynthesisCapUnavailable as exc:
                log.warning("could not renew synthesis leases", extra={"error": str(exc)})
