"""Accessors for the clients views use, set up once per app (as `get_db()` in flaskr).

A test passes its own objects in the `create_app` mapping instead of patching modules.
"""

from __future__ import annotations

from flask import Flask, current_app

from soundbite import spec
from soundbite.core.audio_store import AudioStore
from soundbite.core.cache import CachedSoundbiteReader, LRUCache, RedisLayer, background_refresher
from soundbite.core.config import Settings
from soundbite.core.domain import CursorCodec
from soundbite.core.idempotency import IdempotencyConfig
from soundbite.core.idempotency.persistence import DynamoDBIdempotencyStore, IdempotencyStore
from soundbite.core.metrics import MetricsEmitter
from soundbite.core.publisher import JobPublisher
from soundbite.core.repository import SoundbiteRepository
from soundbite.core.synth.base import Catalog

KEY = "soundbite"


def init_app(app: Flask, settings: Settings, overrides: dict) -> None:
    app.extensions[KEY] = {"settings": settings, **overrides}


def _get(name: str, build):
    ext = current_app.extensions[KEY]
    if name not in ext:
        ext[name] = build(ext["settings"])
    return ext[name]


def settings() -> Settings:
    return current_app.extensions[KEY]["settings"]


def repository() -> SoundbiteRepository:
    return _get("repository", lambda s: SoundbiteRepository(s.table, s.environment))


def audio_store() -> AudioStore:
    return _get("audio_store", lambda s: AudioStore(s.bucket))


def publisher() -> JobPublisher:
    return _get("publisher", lambda s: JobPublisher(s.queue_url))


def catalog() -> Catalog:
    """The voices and formats the API offers (`voices()`, `formats()`, `default_voice`),
    passed to `create_app` as `catalog` by whoever assembles the app."""
    ext = current_app.extensions[KEY]
    if "catalog" not in ext:
        raise RuntimeError("create_app was given no catalog (the voices and formats it offers)")
    return ext["catalog"]


def cursors() -> CursorCodec:
    return _get("cursors", lambda s: CursorCodec(s.api_cursor_secret()))


def key_prefix(s: Settings) -> str:
    """Every key SoundBite writes to a shared Redis starts with this (environment-scoped)."""
    return f"soundbite:{s.environment}:"


def metrics() -> MetricsEmitter:
    return _get("metrics", lambda s: MetricsEmitter(s.environment, s.backend))


def idempotency_config() -> IdempotencyConfig:
    return _get("idempotency_config", lambda s: IdempotencyConfig(ttl_seconds=s.idempotency_ttl_seconds))


def idempotency_store() -> IdempotencyStore:
    """The DynamoDB record store every instance of both stacks shares, with its local LRU."""

    def build(s: Settings) -> IdempotencyStore:
        cache = LRUCache(idempotency_config().cache_max_entries)
        return DynamoDBIdempotencyStore(s.idempotency_table, client=repository().client, cache=cache)

    return _get("idempotency_store", build)


def redis_cache() -> RedisLayer | None:
    """The shared cache layer when `SOUNDBITE_REDIS_URL` is set, else None (LRU only)."""

    def build(s: Settings) -> RedisLayer | None:
        if not s.redis_url:
            return None
        return RedisLayer(s.redis_url, prefix=key_prefix(s) + "soundbite:")

    return _get("redis_cache", build)


def soundbite_reader() -> CachedSoundbiteReader:
    """Soundbite reads through the LRU (and Redis when configured) in front of DynamoDB."""

    def build(s: Settings) -> CachedSoundbiteReader:
        from service.api import telemetry

        return CachedSoundbiteReader(
            repository(), s.cache_ttl_seconds, LRUCache(spec.CACHE_MAX_ENTRIES),
            redis_cache(), on_lookup=telemetry.count_cache_lookup,
            in_flight_ttl_seconds=s.cache_in_flight_ttl_seconds, refresher=background_refresher(),
        )

    return _get("soundbite_reader", build)
