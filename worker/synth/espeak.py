"""espeak-ng as a `Synthesizer`: the engine for local runs and the container image.

The engine ships over a hundred voices and a hundred variants; the API offers a short, stable
list of them (`CURATED_VOICES`) under ids that do not change when the engine's data does.
Each curated voice is checked against what the engine actually lists before it is offered.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from soundbite import spec
from soundbite.core.synth import formats
from soundbite.core.synth.base import Audio, Synthesizer, Voice
from worker.exceptions import EngineUnavailable
from worker.synth import libespeak


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
DEFAULT_VOICE = spec.DEFAULT_VOICE


class EspeakSynthesizer(Synthesizer):
    """Speech from libespeak-ng in this process; one synthesis at a time per process."""

    name = "espeak"
    default_voice = DEFAULT_VOICE

    def __init__(self, engine: Callable[[], libespeak.EspeakEngine] = libespeak.engine) -> None:
        self._engine = engine
        self._offered: dict[str, CuratedVoice] | None = None
        self._offered_lock = threading.Lock()

    def voices(self) -> list[Voice]:
        return [
            Voice(id=c.id, name=c.name, language=c.language, gender=c.gender)
            for c in self._curated().values()
        ]

    def formats(self) -> tuple[str, ...]:
        return tuple(fmt.name for fmt in formats.supported_formats())

    def _synthesize(self, text: str, voice: str, fmt: str) -> Audio:
        engine = self._engine()
        pcm = engine.synthesize_pcm(text, self._curated()[voice].engine_name)
        encoding = formats.format_named(fmt)
        return Audio(
            data=formats.encode_pcm16(pcm, engine.sample_rate, encoding),
            content_type=encoding.content_type,
            duration_seconds=formats.pcm16_duration(pcm, engine.sample_rate),
            sample_rate=engine.sample_rate,
            fmt=fmt,
        )

    def _curated(self) -> dict[str, CuratedVoice]:
        with self._offered_lock:
            if self._offered is None:
                engine = self._engine()
                present = {v.identifier for v in engine.list_voices()}
                present |= {v.identifier for v in engine.list_variants()}
                offered = {
                    c.id: c
                    for c in CURATED_VOICES
                    if c.voice_file in present
                    and (c.variant_file is None or c.variant_file in present)
                }
                if DEFAULT_VOICE not in offered:
                    raise EngineUnavailable(
                        f"the espeak-ng data lacks the default voice {DEFAULT_VOICE!r}"
                    )
                self._offered = offered
            return self._offered
