"""Errors of the worker package, sorted by what the worker must do about them.

A `PermanentError` can never succeed on retry: the soundbite is marked failed with the error's
`code` and message, and the SQS message is deleted. A `TransientError` may succeed later: the
message is left for redelivery, so one that keeps failing lands in the DLQ after the spec's
maximum receive count. Backend exceptions are wrapped with ``raise XError(...) from exc``.
"""

from __future__ import annotations

from soundbite.core.synth.exceptions import (
    EngineThrottled,
    EngineTimeout,
    EngineUnavailable,
    PermanentError,
    SynthesisError,
    TextRejected,
    TransientError,
    UnsupportedFormat,
    UnsupportedVoice,
    WorkerError,
)

__all__ = [
    "AlreadyInProgress",
    "ConfigurationError",
    "EngineThrottled",
    "EngineTimeout",
    "EngineUnavailable",
    "MalformedMessage",
    "PermanentError",
    "RedriveError",
    "RedriveRefused",
    "SoundbiteNotFound",
    "StorageError",
    "SynthesisCapUnavailable",
    "SynthesisError",
    "TextRejected",
    "TransientError",
    "UnsupportedFormat",
    "UnsupportedVoice",
    "WorkerError",
]


class ConfigurationError(WorkerError):
    """A setting names something that does not exist (e.g. an unknown synthesizer)."""

    code = "configuration_error"


# --- Permanent: mark the soundbite failed, do not retry ---------------------------------------


class SoundbiteNotFound(PermanentError):
    """The message names a soundbite that does not exist (deleted or expired)."""

    code = "soundbite_not_found"


class MalformedMessage(PermanentError):
    """The queue message body is not a job the worker understands."""

    code = "malformed_message"


# --- Transient: leave the message for redelivery ----------------------------------------------


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
