"""Speech synthesizers behind one interface, and the factory that picks one by name.

The API's assembly (soundbite/wsgi.py, for the voices and formats it offers) and the worker (to
synthesize) both build their synthesizer here from the `SOUNDBITE_SYNTHESIZER` setting:
"espeak" or "polly". The interface itself is in soundbite/core/synth/.
"""

from __future__ import annotations

from soundbite.core.synth.base import Audio, Synthesizer, Voice
from worker.exceptions import ConfigurationError

ESPEAK = "espeak"
POLLY = "polly"
SYNTHESIZERS = (ESPEAK, POLLY)
DEFAULT_SYNTHESIZER = ESPEAK

__all__ = [
    "Audio",
    "DEFAULT_SYNTHESIZER",
    "SYNTHESIZERS",
    "Synthesizer",
    "Voice",
    "build_synthesizer",
]


def build_synthesizer(name: str | None = None, *, polly_client=None) -> Synthesizer:
    """The synthesizer called `name` (default espeak); the engine itself loads on first use."""
    chosen = (name or DEFAULT_SYNTHESIZER).strip().lower()
    if chosen == ESPEAK:
        from worker.synth.espeak import EspeakSynthesizer

        return EspeakSynthesizer()
    if chosen == POLLY:
        from worker.synth.polly import PollySynthesizer

        return PollySynthesizer(client=polly_client)
    raise ConfigurationError(
        f"unknown synthesizer {name!r}; SOUNDBITE_SYNTHESIZER must be one of: {', '.join(SYNTHESIZERS)}"
    )
