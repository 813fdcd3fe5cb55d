"""JSON log lines with structlog, one per event, on stderr.

Two ways in, one line shape (`ts`, `level`, `logger`, `event`, the process's static fields,
then the event's own):

- `logging.getLogger(...)` records, with their `extra=` fields, go through structlog's
  formatter on the root handler (modules, botocore, gunicorn alike);
- `fast_logger(name)` is a structlog logger that writes straight to the same stream without
  building a `logging.LogRecord`, its name and static fields bound once, orjson's bytes
  written as they are (structlog's `BytesLogger`): the API's one line per request uses it.
  Its keys come in another order (bound fields first); the fields are the same.
"""

from __future__ import annotations

import logging
import sys

import orjson
import structlog

_STATE: dict = {"level": logging.INFO, "static": {}}


def _dumps(entry, **_) -> bytes:
    return orjson.dumps(entry, default=str)


def _dumps_text(entry, **_) -> str:
    return _dumps(entry).decode()


def _static(fields: dict):
    def add(_logger, _name, event: dict) -> dict:
        for key, value in fields.items():
            event.setdefault(key, value)
        return event
    return add


def _stamped() -> list:
    """The level and the UTC time, first on every line."""
    return [structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts")]


def _shared(static: dict) -> list:
    return [*_stamped(), _static(static)]


def configure(level: str = "INFO", **static: str) -> None:
    """Send every log record to stderr as one JSON line (idempotent)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, structlog.stdlib.ExtraAdder(),
                           *_shared(static)],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    structlog.processors.JSONRenderer(serializer=_dumps_text)]))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("botocore").setLevel("WARNING")
    logging.getLogger("urllib3").setLevel("WARNING")
    _STATE.update(level=logging.getLevelName(level.upper()) if isinstance(level, str) else level,
                  static=static)


def fast_logger(name: str):
    """A structlog logger for hot paths: the same JSON fields as `configure`'s, written as bytes
    to the current stderr, filtered at the configured level."""
    return structlog.wrap_logger(
        structlog.BytesLogger(sys.stderr.buffer),
        processors=[*_stamped(), structlog.processors.format_exc_info,
                    structlog.processors.JSONRenderer(serializer=_dumps)],
        wrapper_class=structlog.make_filtering_bound_logger(_STATE["level"]),
        cache_logger_on_first_use=True,
    ).bind(logger=name, **_STATE["static"])
