"""Amazon Polly synthesis: request mapping, content types and error classification.

Two real HTTP backends, no patched clients:
- moto's server (`moto_polly`: MiniStack has no Polly), for voices, formats and the errors moto reproduces. moto's Polly
  answers every synthesis with 8 zero bytes, so these tests check the mapping, the content types
  and the errors, never the audio content (the espeak tests cover real audio);
- a small local HTTP server speaking Polly's JSON protocol, for what moto cannot do: throttle,
  fail, hang, or reject markup.
"""

from __future__ import annotations

import io
import json
import threading
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from botocore.config import Config

from infra.local.emulator import LOCAL_CREDENTIALS, LOCAL_REGION, free_port
from worker.exceptions import (
    EngineThrottled,
    EngineTimeout,
    EngineUnavailable,
    PermanentError,
    SynthesisError,
    TextRejected,
    TransientError,
    UnsupportedFormat,
    UnsupportedVoice,
)
from worker.synth.polly import DEFAULT_VOICE, PollySynthesizer

FAST_FAIL = Config(retries={"total_max_attempts": 1}, connect_timeout=0.5, read_timeout=0.3)


def polly_client(endpoint: str):
    return boto3.client(
        "polly",
        endpoint_url=endpoint,
        region_name=LOCAL_REGION,
        aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        config=FAST_FAIL,
    )


@pytest.fixture(scope="module")
def polly(moto_polly) -> PollySynthesizer:
    return PollySynthesizer(client=polly_client(moto_polly.endpoint))


# --- against the moto server --------------------------------------------------------------------


def test_voices_come_from_describe_voices(polly):
    voices = polly.voices()
    by_id = {v.id: v for v in voices}
    assert len(voices) > 20
    assert polly.default_voice == DEFAULT_VOICE
    joanna = by_id[DEFAULT_VOICE]
    assert (joanna.name, joanna.language, joanna.gender) == ("Joanna", "en-US", "female")
    assert {v.gender for v in voices} <= {"female", "male", None}
    assert voices == sorted(voices, key=lambda v: (v.language, v.id))


@pytest.mark.parametrize(
    ("fmt", "content_type"), [("wav", "audio/wav"), ("mp3", "audio/mpeg"), ("ogg", "audio/ogg")]
)
def test_each_format_carries_its_content_type(polly, fmt, content_type):
    audio = polly.synthesize("Hello from Polly.", DEFAULT_VOICE, fmt)
    assert (audio.fmt, audio.content_type) == (fmt, content_type)
    assert audio.data
    assert audio.duration_seconds > 0


def test_wav_wraps_pcm_in_a_parseable_header(polly):
    audio = polly.synthesize("Hello from Polly.", DEFAULT_VOICE, "wav")
    with wave.open(io.BytesIO(audio.data)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 16000)
        assert wav.getnframes() / 16000 == pytest.approx(audio.duration_seconds)


def test_undecodable_compressed_audio_gets_a_duration_estimate_that_grows_with_text(polly):
    short = polly.synthesize("Twenty characters..", DEFAULT_VOICE, "mp3")
    long = polly.synthesize("Two hundred characters. " * 8, DEFAULT_VOICE, "mp3")
    assert long.duration_seconds > 5 * short.duration_seconds


def test_unknown_voice_is_permanent_and_names_the_choices(polly):
    with pytest.raises(UnsupportedVoice) as caught:
        polly.synthesize("Hello.", "en-us", "mp3")
    assert isinstance(caught.value, PermanentError)
    assert "'en-us'" in str(caught.value) and "Joanna" in str(caught.value)


def test_unknown_format_is_permanent_and_names_the_choices(polly):
    with pytest.raises(UnsupportedFormat, match=r"'flac'.*wav, mp3, ogg"):
        polly.synthesize("Hello.", DEFAULT_VOICE, "flac")


def test_text_over_pollys_limit_is_rejected_for_good(polly):
    with pytest.raises(TextRejected, match="TextLengthExceeded"):
        polly.synthesize("x" * 3001, DEFAULT_VOICE, "mp3")


# --- against a Polly that misbehaves ------------------------------------------------------------

FAKE_VOICES = [
    {"Id": "Joanna", "Name": "Joanna", "Gender": "Female", "LanguageCode": "en-US",
     "SupportedEngines": ["neural", "standard"]},
    {"Id": "Brian", "Name": "Brian", "Gender": "Male", "LanguageCode": "en-GB",
     "SupportedEngines": ["standard"]},
    {"Id": "Future", "Name": "Future", "Gender": "Male", "LanguageCode": "en-US",
     "SupportedEngines": ["generative"]},
]  # fmt: skip


@dataclass
class MisbehavingPolly:
    """A Polly endpoint whose speech answers the test chooses."""

    endpoint: str
    status: int = 200
    error_code: str = ""
    hang: threading.Event | None = None
    speech_requests: list[dict] = field(default_factory=list)

    def fail_with(self, status: int, code: str) -> None:
        self.status, self.error_code = status, code


@pytest.fixture
def misbehaving() -> Iterator[MisbehavingPolly]:
    fake = MisbehavingPolly(endpoint="")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._answer(200, json.dumps({"Voices": FAKE_VOICES}).encode(), "application/json")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            fake.speech_requests.append(json.loads(self.rfile.read(length)))
            if fake.hang is not None:
                fake.hang.wait(timeout=5)
                return
            if fake.status != 200:
                error = {"__type": fake.error_code, "message": f"{fake.error_code} from the test"}
                self._answer(fake.status, json.dumps(error).encode(), "application/json")
                return
            self._answer(200, b"\x00\x01" * 800, "audio/pcm")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    fake.endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield fake
    if fake.hang is not None:
        fake.hang.set()
    server.shutdown()
    server.server_close()


def synthesizer_for(fake: MisbehavingPolly) -> PollySynthesizer:
    return PollySynthesizer(client=polly_client(fake.endpoint))


def test_asks_for_the_neural_engine_where_the_voice_has_it(misbehaving):
    polly = synthesizer_for(misbehaving)
    assert [v.id for v in polly.voices()] == ["Brian", "Joanna"], "generative-only voice left out"
    polly.synthesize("Hello.", "Joanna", "wav")
    polly.synthesize("Hello.", "Brian", "mp3")
    sent = [(r["VoiceId"], r["Engine"], r["OutputFormat"]) for r in misbehaving.speech_requests]
    assert sent == [("Joanna", "neural", "pcm"), ("Brian", "standard", "mp3")]


def test_empty_text_never_reaches_polly(misbehaving):
    with pytest.raises(TextRejected, match="empty"):
        synthesizer_for(misbehaving).synthesize("   ", "Joanna", "mp3")
    assert misbehaving.speech_requests == []


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, "ThrottlingException", EngineThrottled),
        (429, "TooManyRequestsException", EngineThrottled),
        (500, "ServiceFailureException", EngineUnavailable),
        (403, "AccessDeniedException", SynthesisError),
    ],
)
def test_engine_trouble_is_transient(misbehaving, status, code, expected):
    misbehaving.fail_with(status, code)
    with pytest.raises(expected, match=code) as caught:
        synthesizer_for(misbehaving).synthesize("Hello.", "Joanna", "mp3")
    assert isinstance(caught.value, TransientError)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("InvalidSsmlException", TextRejected),
        ("TextLengthExceededException", TextRejected),
        ("EngineNotSupportedException", UnsupportedVoice),
        ("InvalidSampleRateException", UnsupportedFormat),
    ],
)
def test_input_polly_refuses_is_permanent(misbehaving, code, expected):
    misbehaving.fail_with(400, code)
    with pytest.raises(expected, match=code) as caught:
        synthesizer_for(misbehaving).synthesize("Hello.", "Joanna", "mp3")
    assert isinstance(caught.value, PermanentError)


def test_a_polly_that_does_not_answer_times_out_as_transient(misbehaving):
    polly = synthesizer_for(misbehaving)
    polly.voices()
    misbehaving.hang = threading.Event()
    with pytest.raises(EngineTimeout):
        polly.synthesize("Hello.", "Joanna", "mp3")


def test_an_unreachable_polly_is_transient():
    polly = PollySynthesizer(client=polly_client(f"http://127.0.0.1:{free_port()}"))
    with pytest.raises(EngineUnavailable, match="could not be reached"):
        polly.voices()
