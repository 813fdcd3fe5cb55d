"""Speech synthesizers behind one interface, and the factory that picks one by name.

The worker builds its synthesizer here from the `SOUNDBITE_SYNTHESIZER` setting: "espeak" or
"polly". The interface, and the catalog of each engine's voices and formats the API offers
(built by `soundbite.core.synth.catalog.build_catalog` from the same setting), are in the core
(soundbite/core/synth/); each synthesizer takes its voices from its engine's catalog.
"""

from __future__ import annotations

from soundbite.core.config import ConfigError
from soundbite.core.synth.base import Audio, Synthesizer, Voice
from soundbite.core.synth.catalog import (
    DEFAULT_SYNTHESIZER,
    ESPEAK,
    POLLY,
    SYNTHESIZERS,
    synthesizer_named,
)
from worker.exceptions import ConfigurationError

__all__ = [
    "Audio",
    "DEFAULT_SYNTHESIZER",
    "ESPEAK",
    "POLLY",
    "SYNTHESIZERS",
    "Synthesizer",
    "Voice",
    "build_synthesizer",
]


def build_synthesizer(name: str | None = None, *, polly_client=None) -> Synthesizer:
    """The synthesizer called `name` (default espeak); the engine itself loads on first use."""
    try:
        chosen = synthesizer_named(name)
    except ConfigError as exc:
        raise ConfigurationError(str(exc)) from exc
    if chosen == POLLY:
        from worker.synth.polly import PollySynthesizer

        return PollySynthesizer(client=polly_client)
    from worker.synth.espeak import EspeakSynthesizer

    return EspeakSynthesizer()
