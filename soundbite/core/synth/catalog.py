"""The voice catalog: the voices and formats the configured engine offers, without the engine.

Both faces stand on it. The API lists it (GET /v1/voices) and checks each request against it;
it is built where the app is assembled (soundbite/wsgi.py) by `build_catalog`, from the same
`SOUNDBITE_SYNTHESIZER` setting the worker's `build_synthesizer` reads. The worker's
synthesizers take their voices from the same catalogs.

- espeak: a short, stable list of the engine's voices (`CURATED_VOICES`) under ids that do not
  change when the engine's data does. The catalog offers the curated list as it is, without
  loading libespeak-ng: the image ships the API and the worker the same espeak-ng data, the
  worker's tests synthesize with every curated voice, and the worker's synthesizer still checks
  each curated voice against what the engine lists, refusing one its data lacks with a
  permanent error (`UnsupportedVoice`).
- polly: Amazon Polly's DescribeVoices, each voice on the first engine of `ENGINE_PREFERENCE`
  it supports (voices on none of them are left out).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from botocore.config import Config

from soundbite import spec
from soundbite.core.config import ConfigError
from soundbite.core.synth import formats
from soundbite.core.synth.base import Catalog, Voice
from soundbite.core.synth.polly_errors import polly_errors

__all__ = [
    "CURATED_VOICES",
    "DEFAULT_SYNTHESIZER",
    "SYNTHESIZERS",
    "Catalog",
    "CuratedVoice",
    "EspeakCatalog",
    "PollyCatalog",
    "build_catalog",
    "synthesizer_named",
]

ESPEAK = "espeak"
POLLY = "polly"
SYNTHESIZERS = (ESPEAK, POLLY)
DEFAULT_SYNTHESIZER = ESPEAK


def synthesizer_named(name: str | None) -> str:
    """The engine `SOUNDBITE_SYNTHESIZER` names (default espeak); ConfigError if none."""
    chosen = (name or DEFAULT_SYNTHESIZER).strip().lower()
    if chosen not in SYNTHESIZERS:
        raise ConfigError(
            f"unknown synthesizer {name!r}; SOUNDBITE_SYNTHESIZER must be one of: "
            f"{', '.join(SYNTHESIZERS)}"
        )
    return chosen


def build_catalog(name: str | None = None, *, polly_client=None) -> Catalog:
    """The catalog of the engine called `name` (default espeak), as `build_synthesizer` picks
    it; Polly's is asked for its voices on first use, with `polly_client` if given."""
    if synthesizer_named(name) == POLLY:
        return PollyCatalog(client=polly_client)
    return EspeakCatalog()


# --- espeak-ng ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CuratedVoice:
    id: str
    name: str
    language: str
    gender: str
    voice_file: str  # identifier in espeak_ListVoices, e.g. "gmw/en-US"
    variant_file: str | None = None  # identifier of a "+variant", e.g. "!v/f3"

    @property
    def engine_name(self) -> str:
        """What espeak_SetVoiceByName accepts: the file's last part, plus "+variant"."""
        base = self.voice_file.rsplit("/", 1)[-1].lower()
        if self.variant_file is None:
            return base
        return f"{base}+{self.variant_file.rsplit('/', 1)[-1]}"

    @property
    def voice(self) -> Voice:
        return Voice(id=self.id, name=self.name, language=self.language, gender=self.gender)


CURATED_VOICES = (
    CuratedVoice("en-us", "English (America)", "en-US", "male", "gmw/en-US"),
    CuratedVoice("en-us-f", "English (America), female", "en-US", "female", "gmw/en-US", "!v/f3"),
    CuratedVoice("en-gb", "English (Great Britain)", "en-GB", "male", "gmw/en"),
    CuratedVoice(
        "en-gb-f", "English (Great Britain), female", "en-GB", "female", "gmw/en", "!v/f4"
    ),
    CuratedVoice("de", "German", "de-DE", "male", "gmw/de"),
    CuratedVoice("fr", "French (France)", "fr-FR", "male", "roa/fr"),
    CuratedVoice("es", "Spanish (Spain)", "es-ES", "male", "roa/es"),
)
ESPEAK_DEFAULT_VOICE = spec.DEFAULT_VOICE


class EspeakCatalog(Catalog):
    """The curated espeak-ng voices, offered as listed (see the module's docstring)."""

    name = ESPEAK
    default_voice = ESPEAK_DEFAULT_VOICE

    def __init__(self, curated: tuple[CuratedVoice, ...] = CURATED_VOICES) -> None:
        self.curated = curated

    def voices(self) -> list[Voice]:
        return [c.voice for c in self.curated]

    def formats(self) -> tuple[str, ...]:
        return tuple(fmt.name for fmt in formats.supported_formats())


# --- Amazon Polly -------------------------------------------------------------------------

POLLY_DEFAULT_VOICE = "Joanna"
ENGINE_PREFERENCE = ("neural", "standard")
POLLY_FORMATS = (formats.WAV.name, formats.MP3.name, formats.OGG.name)
"""Polly returns MP3 and Ogg Vorbis ready to store, and PCM the worker wraps in WAV."""
CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 30
CLIENT_MAX_ATTEMPTS = 3


def polly_client():
    """A Polly client from the environment, with SoundBite's timeouts and retries."""
    import boto3

    return boto3.client(
        "polly",
        config=Config(
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=READ_TIMEOUT_SECONDS,
            retries={"total_max_attempts": CLIENT_MAX_ATTEMPTS, "mode": "standard"},
        ),
    )


class PollyCatalog(Catalog):
    """Polly's voices (DescribeVoices, asked once); takes its client, builds one if not given."""

    name = POLLY
    default_voice = POLLY_DEFAULT_VOICE

    def __init__(self, client=None, *, engines: tuple[str, ...] = ENGINE_PREFERENCE) -> None:
        self._client = client
        self._engines = engines
        self._voices: list[Voice] | None = None
        self._voice_engine: dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def client(self):
        if self._client is None:
            self._client = polly_client()
        return self._client

    def voices(self) -> list[Voice]:
        return list(self._described()[0])

    def formats(self) -> tuple[str, ...]:
        return POLLY_FORMATS

    def engine_for(self, voice: str) -> str:
        """The Polly engine (e.g. "neural") this catalog offers `voice` on; KeyError if none."""
        return self._described()[1][voice]

    def _described(self) -> tuple[list[Voice], dict[str, str]]:
        with self._lock:
            if self._voices is None:
                self._voices = self._describe_voices()
            return self._voices, self._voice_engine

    def _describe_voices(self) -> list[Voice]:
        voices = []
        request: dict[str, str] = {}
        while True:
            with polly_errors():
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
