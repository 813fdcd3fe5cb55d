"""How long records live, how long an in-progress record holds its key, how many we cache."""

from __future__ import annotations

from dataclasses import dataclass

from soundbite import spec

KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"


@dataclass(frozen=True)
class IdempotencyConfig:
    ttl_seconds: int = spec.IDEMPOTENCY_TTL_SECONDS
    """A completed record answers retries for this long (24 h by default, per the seed)."""
    lease_seconds: int = spec.IDEMPOTENCY_LEASE_SECONDS
    """An in-progress record blocks its key this long, so a crashed request frees it."""
    cache_max_entries: int = spec.CACHE_MAX_ENTRIES
    """Completed records kept in the process's LRU (they never change, so this is safe)."""
    key_header: str = KEY_HEADER

    def __post_init__(self) -> None:
        if self.ttl_seconds <= 0 or self.lease_seconds <= 0:
            raise ValueError("idempotency TTL and lease must be positive")
