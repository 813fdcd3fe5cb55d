"""Amazon Polly as a `Synthesizer`: the engine in AWS.

Polly returns MP3 and Ogg Vorbis ready to store; WAV is Polly's raw PCM wrapped in a WAV
header. Polly's errors are sorted into the worker's two kinds: what no retry can fix (text too
long, bad markup, a voice the engine does not support) becomes a `PermanentError`; throttling,
service failures, timeouts and anything unrecognised become a `TransientError`, because the
soundbite is not known to be at fault.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    NoCredentialsError,
    ReadTimeoutError,
)

from soundbite.core.synth import formats
from soundbite.core.synth.base import Audio, Synthesizer, Voice
from worker.exceptions import (
    EngineThrottled,
    EngineTimeout,
    EngineUnavailable,
    SynthesisError,
    TextRejected,
    UnsupportedFormat,
    UnsupportedVoice,
    WorkerError,
)

DEFAULT_VOICE = "Joanna"
ENGINE_PREFERENCE = ("neural", "standard")
COMPRESSED_SAMPLE_RATE = 22050  # highest rate Polly offers for MP3/Ogg on every engine
PCM_SAMPLE_RATE = 16000  # highest rate Polly offers for PCM
CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 30
CLIENT_MAX_ATTEMPTS = 3

# Polly's output format per SoundBite format.
OUTPUT_FORMATS = {
    formats.WAV.name: ("pcm", PCM_SAMPLE_RATE),
    formats.MP3.name: ("mp3", COMPRESSED_SAMPLE_RATE),
    formats.OGG.name: ("ogg_vorbis", COMPRESSED_SAMPLE_RATE),
}

# A rough speaking rate, used only when the returned audio cannot be decoded to measure its
# length (the local emulator answers with placeholder bytes); real Polly audio always decodes.
ESTIMATED_CHARS_PER_SECOND = 15.0

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


class PollySynthesizer(Synthesizer):
    """Speech from Amazon Polly; takes its client, builds one from the environment if not given."""

    name = "polly"
    default_voice = DEFAULT_VOICE

    def __init__(self, client=None, *, engines: tuple[str, ...] = ENGINE_PREFERENCE) -> None:
        self._client = client
        self._engines = engines
        self._voices: list[Voice] | None = None
        self._voice_engine: dict[str, str] = {}
        self._voices_lock = threading.Lock()

    @property
    def client(self):
        if self._client is None:
            import boto3

            self._client = boto3.client(
                "polly",
                config=Config(
                    connect_timeout=CONNECT_TIMEOUT_SECONDS,
                    read_timeout=READ_TIMEOUT_SECONDS,
                    retries={"total_max_attempts": CLIENT_MAX_ATTEMPTS, "mode": "standard"},
                ),
            )
        return self._client

    def voices(self) -> list[Voice]:
        with self._voices_lock:
            if self._voices is None:
                self._voices = self._describe_voices()
            return list(self._voices)

    def formats(self) -> tuple[str, ...]:
        return tuple(OUTPUT_FORMATS)

    def _describe_voices(self) -> list[Voice]:
        voices = []
        request: dict[str, str] = {}
        while True:
            with _polly_errors():
                page = self.client.describe_voices(**request)
            for entry in page.get("Voices", []):
                engine = next(
                    (e for e in self._engines if e in entry.get("SupportedEngines", [])), None
                )
                if engine is None:
                    continue
                self._voice_engine[entry["Id"]] = engine
                gender = entry.get("Gender")
                voices.append(
                    Voice(
                        id=entry["Id"],
                        name=entry.get("Name", entry["Id"]),
                        language=entry["LanguageCode"],
                        gender=gender.lower() if gender else None,
                    )
                )
            if not page.get("NextToken"):
                break
            request = {"NextToken": page["NextToken"]}
        voices.sort(key=lambda v: (v.language, v.id))
        return voices

    def _synthesize(self, text: str, voice: str, fmt: str) -> Audio:
        output_format, sample_rate = OUTPUT_FORMATS[fmt]
        with _polly_errors():
            response = self.client.synthesize_speech(
                Text=text,
                TextType="text",
                VoiceId=voice,
                Engine=self._voice_engine[voice],
                OutputFormat=output_format,
                SampleRate=str(sample_rate),
            )
            body = response["AudioStream"].read()
        encoding = formats.format_named(fmt)
        if encoding == formats.WAV:
            data = formats.encode_pcm16(body, sample_rate, encoding)
            duration = formats.pcm16_duration(body, sample_rate)
        else:
            data = body
            duration = formats.decoded_duration(body)
            if duration is None:
                duration = len(text) / ESTIMATED_CHARS_PER_SECOND
        return Audio(
            data=data,
            content_type=encoding.content_type,
            duration_seconds=duration,
            sample_rate=sample_rate,
            fmt=fmt,
        )


@contextmanager
def _polly_errors() -> Iterator[None]:
    """Translate botocore's exceptions into the worker's permanent and transient errors."""
    try:
        yield
    except ClientError as exc:
        raise _from_client_error(exc) from exc
    except (ReadTimeoutError, ConnectTimeoutError) as exc:
        raise EngineTimeout(f"Polly did not answer in time: {exc}") from exc
    except NoCredentialsError as exc:
        raise EngineUnavailable(f"no AWS credentials for Polly: {exc}") from exc
    except BotoCoreError as exc:
        raise EngineUnavailable(f"Polly could not be reached: {exc}") from exc


def _from_client_error(exc: ClientError) -> WorkerError:
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
