"""Errors a synthesizer raises, sorted by what the worker must do about them.

A `PermanentError` can never succeed on retry (bad text, voice or format); a `TransientError`
may succeed later (the engine failed, timed out or throttled). The worker's own errors
(worker/exceptions.py) derive from the same bases, so its handling sees one hierarchy.
"""

from __future__ import annotations


class WorkerError(Exception):
    """Base class of every error a synthesizer or the worker raises on purpose."""

    code = "worker_error"


class PermanentError(WorkerError):
    """Retrying cannot help: the input itself is at fault."""

    code = "permanent_error"


class TextRejected(PermanentError):
    """The synthesizer refuses this text (empty, too long for the engine, invalid markup)."""

    code = "text_rejected"


class UnsupportedVoice(PermanentError):
    """The voice is not one the configured synthesizer offers."""

    code = "unsupported_voice"


class UnsupportedFormat(PermanentError):
    """The audio format is not one the configured synthesizer can produce."""

    code = "unsupported_format"


class TransientError(WorkerError):
    """The input may be fine; the failure is in the environment and may clear up."""

    code = "transient_error"


class SynthesisError(TransientError):
    """The speech engine failed in a way that says nothing about the input."""

    code = "synthesis_error"


class EngineUnavailable(SynthesisError):
    """The engine cannot be reached or loaded (library missing, service failure, no network).

    Transient on purpose: the soundbite is not at fault, so it should reach the DLQ and be
    redriven once the engine is back, rather than be marked failed.
    """

    code = "engine_unavailable"


class EngineThrottled(SynthesisError):
    """The engine asked us to slow down."""

    code = "engine_throttled"


class EngineTimeout(SynthesisError):
    """The engine did not answer in time."""

    code = "engine_timeout"
