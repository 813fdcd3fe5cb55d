"""Errors of the worker package, sorted by what the worker must do about them.

A `PermanentError` can never succeed on retry: the soundbite is marked failed with the error's
`code` and message, and the SQS message is deleted. A `TransientError` may succeed later: the
message is left for redelivery, so one that keeps failing lands in the DLQ after the spec's
maximum receive count. Backend exceptions are wrapped with ``raise XError(...) from exc``.
"""

from __future__ import annotations


class WorkerError(Exception):
    """Base class of every error the worker package raises on purpose."""

    code = "worker_error"


class ConfigurationError(WorkerError):
    """A setting names something that does not exist (e.g. an unknown synthesizer)."""

    code = "configuration_error"


# --- Permanent: mark the soundbite failed, do not retry ---------------------------------------


class PermanentError(WorkerError):
    """Retrying cannot help: the input itself is at fault."""

    code = "permanent_error"


class SoundbiteNotFound(PermanentError):
    """The message names a soundbite that does not exist (deleted or expired)."""

    code = "soundbite_not_found"


class MalformedMessage(PermanentError):
    """The queue message body is not a job the worker understands."""

    code = "malformed_message"


class TextRejected(PermanentError):
    """The synthesizer refuses this text (empty, too long for the engine, invalid markup)."""

    code = "text_rejected"


class UnsupportedVoice(PermanentError):
    """The voice is not one the configured synthesizer offers."""

    code = "unsupported_voice"


class UnsupportedFormat(PermanentError):
    """The audio format is not one the configured synthesizer can produce."""

    code = "unsupported_format"


# --- Transient: leave the message for redelivery ----------------------------------------------


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


class SynthesisCapUnavailable(TransientError):
    """The shared synthesis cap cannot be checked (its Redis does not answer)."""

    code = "synthesis_cap_unavailable"


class AlreadyInProgress(TransientError):
    """Another delivery of the same soundbite is being processed in this process."""

    code = "already_in_progress"


class StorageError(TransientError):
    """Reading or writing the soundbite record or its audio failed."""

    code = "storage_error"


# --- DLQ redrive ------------------------------------------------------------------------------


class RedriveError(WorkerError):
    """A DLQ redrive could not run."""

    code = "redrive_error"


class RedriveRefused(RedriveError):
    """The redrive needs a confirmation it did not get (e.g. unattended in production)."""

    code = "redrive_refused"
