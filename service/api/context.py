"""Accessors for the clients views use, set up once per app (as `get_db()` in flaskr).

A test passes its own objects in the `create_app` mapping instead of patching modules.
"""

from __future__ import annotations

from flask import Flask, current_app

from service.audio_store import AudioStore
from service.config import Settings
from service.domain import CursorCodec
from service.publisher import JobPublisher
from service.repository import SoundbiteRepository

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


def catalog():
    """The synthesizer whose voices and formats the API offers (`voices()`, `formats()`)."""

    def build(s: Settings):
        from worker.synth import build_synthesizer

        return build_synthesizer(s.synthesizer)

    return _get("catalog", build)


def cursors() -> CursorCodec:
    return _get("cursors", lambda s: CursorCodec(s.cursor_secret))
