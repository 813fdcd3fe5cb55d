"""A synthesizer whose engine hangs on a text containing "hang", as a stuck C call would: it
holds libespeak-ng's process-wide lock and never returns. Module-level, so a synthesis child
process can build it (`IsolatedSynthesizer` pickles the builder by name)."""

from __future__ import annotations

import threading

from worker.synth import libespeak
from worker.synth.espeak import EspeakSynthesizer

HANG = "hang"


class HungEngineSynthesizer(EspeakSynthesizer):
    def _synthesize(self, text: str, voice: str, fmt: str):
        if HANG in text:
            with libespeak._LOCK:
                threading.Event().wait()
        return super()._synthesize(text, voice, fmt)


def build() -> HungEngineSynthesizer:
    return HungEngineSynthesizer()
