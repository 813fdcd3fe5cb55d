"""Amazon Polly's errors sorted into the two kinds: permanent (the input) and transient.

What no retry can fix (text too long, bad markup, a voice the engine does not support) becomes
a `PermanentError`; throttling, service failures, timeouts and anything unrecognised become a
`TransientError`, because the soundbite is not known to be at fault. Used by the Polly catalog
(DescribeVoices, soundbite/core/synth/catalog.py) and the worker's Polly synthesizer.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    NoCredentialsError,
    ReadTimeoutError,
)

from soundbite.core.synth.exceptions import (
    EngineThrottled,
    EngineTimeout,
    EngineUnavailable,
    SynthesisError,
    TextRejected,
    UnsupportedFormat,
    UnsupportedVoice,
    WorkerError,
)

REJECTED_TEXT_CODES = {
    "TextLengthExceededException",
    "InvalidSsmlException",
    "SsmlMarksNotSupportedForTextTypeException",
    "LexiconNotFoundException",
}
REJECTED_VOICE_CODES = {"EngineNotSupportedException", "LanguageNotSupportedException"}
REJECTED_FORMAT_CODES = {"InvalidSampleRateException", "MarksNotSupportedForFormatException"}
THROTTLING_CODES = {
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
}


@contextmanager
def polly_errors() -> Iterator[None]:
    """Translate botocore's exceptions into permanent and transient synthesis errors."""
    try:
        yield
    except ClientError as exc:
        raise from_client_error(exc) from exc
    except (ReadTimeoutError, ConnectTimeoutError) as exc:
        raise EngineTimeout(f"Polly did not answer in time: {exc}") from exc
    except NoCredentialsError as exc:
        raise EngineUnavailable(f"no AWS credentials for Polly: {exc}") from exc
    except BotoCoreError as exc:
        raise EngineUnavailable(f"Polly could not be reached: {exc}") from exc


def from_client_error(exc: ClientError) -> WorkerError:
    error = exc.response.get("Error", {})
    code = error.get("Code", "")
    detail = f"Polly {code}: {error.get('Message') or 'no message'}"
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    if code in REJECTED_TEXT_CODES:
        return TextRejected(detail)
    if code in REJECTED_VOICE_CODES:
        return UnsupportedVoice(detail)
    if code in REJECTED_FORMAT_CODES:
        return UnsupportedFormat(detail)
    if code in THROTTLING_CODES or status == 429:
        return EngineThrottled(detail)
    if code == "ServiceFailureException" or status >= 500:
        return EngineUnavailable(detail)
    # Unknown errors (including access denied) are not the soundbite's fault: keep the message
    # for redelivery so it reaches the DLQ and can be redriven once the cause is fixed.
    return SynthesisError(detail)
