"""espeak-ng as a `Synthesizer`: the engine for local runs and the container image.

The engine ships over a hundred voices and a hundred variants; SoundBite offers a short, stable
list of them (`CURATED_VOICES`, in the core's catalog) under ids that do not change when the
engine's data does. Before synthesizing, each curated voice is checked against what the engine
actually lists: one its data lacks is refused as an unknown voice (a permanent error).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from soundbite.core.synth import formats
from soundbite.core.synth.base import Audio, Synthesizer, Voice
from soundbite.core.synth.catalog import ESPEAK_DEFAULT_VOICE, CuratedVoice, EspeakCatalog
from worker.exceptions import EngineUnavailable
from worker.synth import libespeak

DEFAULT_VOICE = ESPEAK_DEFAULT_VOICE


class EspeakSynthesizer(Synthesizer):
    """Speech from libespeak-ng in this process; one synthesis at a time per process."""

    name = EspeakCatalog.name
    default_voice = DEFAULT_VOICE

    def __init__(self, engine: Callable[[], libespeak.EspeakEngine] = libespeak.engine,
                 catalog: EspeakCatalog | None = None) -> None:
        self._engine = engine
        self.catalog = catalog or EspeakCatalog()
        self._offered: dict[str, CuratedVoice] | None = None
        self._offered_lock = threading.Lock()

    def voices(self) -> list[Voice]:
        """The catalog's voices that the engine's data has, in the catalog's order."""
        return [c.voice for c in self._curated().values()]

    def formats(self) -> tuple[str, ...]:
        return self.catalog.formats()

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
                    for c in self.catalog.curated
                    if c.voice_file in present
                    and (c.variant_file is None or c.variant_file in present)
                }
                if DEFAULT_VOICE not in offered:
                    raise EngineUnavailable(
                        f"the espeak-ng data lacks the default voice {DEFAULT_VOICE!r}"
                    )
                self._offered = offered
            return self._offered
