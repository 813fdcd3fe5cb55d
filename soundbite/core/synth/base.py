"""The synthesizer interface: voices, formats, and text -> audio.

A `Catalog` is what an engine offers (voices, formats, the default voice) without the engine
itself: the API lists and checks requests against one (soundbite/core/synth/catalog.py). Every
engine (espeak-ng locally and in the image, Amazon Polly in AWS) implements `Synthesizer`, a
catalog that also speaks. The shared `synthesize` checks text, voice and format the same way
for all of them, so a bad request gets the same clear `PermanentError` whichever engine is
configured.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from soundbite.core.domain import neutralise
from soundbite.core.synth.exceptions import TextRejected, UnsupportedFormat, UnsupportedVoice


@dataclass(frozen=True)
class Voice:
    """A voice as the API lists it; `id` is what a client sends back."""

    id: str
    name: str
    language: str  # BCP 47, e.g. "en-US"
    gender: str | None  # "female", "male", or None when the engine does not say

    def to_dict(self) -> dict[str, str | None]:
        return {"id": self.id, "name": self.name, "language": self.language, "gender": self.gender}


@dataclass(frozen=True)
class Audio:
    """Encoded audio, ready to upload."""

    data: bytes
    content_type: str
    duration_seconds: float
    sample_rate: int
    fmt: str

    @property
    def size(self) -> int:
        return len(self.data)


class Catalog(ABC):
    """The voices and formats a client may choose, and the voice used when it names none."""

    name: str
    default_voice: str

    @abstractmethod
    def voices(self) -> list[Voice]:
        """The voices a client may choose, in a stable order."""

    @abstractmethod
    def formats(self) -> tuple[str, ...]:
        """The format names a client may choose, e.g. ("wav", "mp3", "ogg")."""

    def check_voice(self, voice: str) -> None:
        known = [v.id for v in self.voices()]
        if voice not in known:
            raise UnsupportedVoice(
                f"unknown voice {voice!r}; {self.name} offers: {', '.join(known)}"
            )

    def check_format(self, fmt: str) -> None:
        known = self.formats()
        if fmt not in known:
            raise UnsupportedFormat(
                f"unknown format {fmt!r}; {self.name} produces: {', '.join(known)}"
            )


class Synthesizer(Catalog):
    """A catalog that turns text into audio in one of its voices and formats."""

    @abstractmethod
    def _synthesize(self, text: str, voice: str, fmt: str) -> Audio:
        """Synthesize already-validated input."""

    def synthesize(self, text: str, voice: str, fmt: str) -> Audio:
        """Synthesize `text`; raises a PermanentError for input no retry can fix."""
        self.check_voice(voice)
        self.check_format(fmt)
        return self._synthesize(check_text(text), voice, fmt)


def check_text(text: str) -> str:
    """The text with outer whitespace removed and unsafe characters neutralised; rejects what
    no engine can speak.

    The API refuses control characters and lone surrogates, but a job may come from
    elsewhere (an older API, a redrive, a hand-sent message): they become spaces here, so no
    text can carry engine commands (libespeak-ng's Ctrl-A sequences) or stop a C engine
    reading (NUL).
    """
    if not isinstance(text, str):
        raise TextRejected(f"text must be a string, not {type(text).__name__}")
    stripped = neutralise(text).strip()
    if not stripped:
        raise TextRejected("text is empty")
    return stripped
