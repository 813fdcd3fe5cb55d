"""Amazon Polly as a `Synthesizer`: the engine in AWS.

Polly returns MP3 and Ogg Vorbis ready to store; WAV is Polly's raw PCM wrapped in a WAV
header. The voices, and the engine each is spoken on, come from the core's Polly catalog
(DescribeVoices); Polly's errors are sorted into permanent and transient ones by the core's
`polly_errors` (a voice the engine does not support is permanent, throttling transient).
"""

from __future__ import annotations

from soundbite.core.synth import formats
from soundbite.core.synth.base import Audio, Synthesizer, Voice
from soundbite.core.synth.catalog import (
    ENGINE_PREFERENCE,
    POLLY_DEFAULT_VOICE,
    PollyCatalog,
)
from soundbite.core.synth.polly_errors import polly_errors

DEFAULT_VOICE = POLLY_DEFAULT_VOICE
COMPRESSED_SAMPLE_RATE = 22050  # highest rate Polly offers for MP3/Ogg on every engine
PCM_SAMPLE_RATE = 16000  # highest rate Polly offers for PCM

# Polly's output format per SoundBite format.
OUTPUT_FORMATS = {
    formats.WAV.name: ("pcm", PCM_SAMPLE_RATE),
    formats.MP3.name: ("mp3", COMPRESSED_SAMPLE_RATE),
    formats.OGG.name: ("ogg_vorbis", COMPRESSED_SAMPLE_RATE),
}

# A rough speaking rate, used only when the returned audio cannot be decoded to measure its
# length (the local emulator answers with placeholder bytes); real Polly audio always decodes.
ESTIMATED_CHARS_PER_SECOND = 15.0


class PollySynthesizer(Synthesizer):
    """Speech from Amazon Polly; takes its client, builds one from the environment if not given."""

    name = PollyCatalog.name
    default_voice = DEFAULT_VOICE

    def __init__(self, client=None, *, engines: tuple[str, ...] = ENGINE_PREFERENCE,
                 catalog: PollyCatalog | None = None) -> None:
        self.catalog = catalog or PollyCatalog(client, engines=engines)

    @property
    def client(self):
        return self.catalog.client

    def voices(self) -> list[Voice]:
        return self.catalog.voices()

    def formats(self) -> tuple[str, ...]:
        return self.catalog.formats()

    def _synthesize(self, text: str, voice: str, fmt: str) -> Audio:
        output_format, sample_rate = OUTPUT_FORMATS[fmt]
        with polly_errors():
            response = self.client.synthesize_speech(
                Text=text,
                TextType="text",
                VoiceId=voice,
                Engine=self.catalog.engine_for(voice),
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
