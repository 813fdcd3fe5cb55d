"""Audio formats: names, content types, and encoding of 16-bit PCM.

The one place that knows which format names exist and what content type each carries. WAV is
written with the standard library; MP3 and Ogg Vorbis go through libsndfile (bundled in the
`soundfile` wheel), and are offered only when that build can write them.
"""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass
from functools import cache

import numpy as np
import soundfile

from soundbite import spec

SAMPLE_WIDTH_BYTES = 2  # 16-bit signed little-endian PCM, what both engines emit
CHANNELS = 1

# libvorbis allocates its analysis buffer on the stack in proportion to the frames handed to
# one write call; large single writes overflow small thread stacks. Writing in blocks avoids it.
ENCODE_BLOCK_FRAMES = 4096


@dataclass(frozen=True)
class AudioFormat:
    name: str
    content_type: str
    extension: str
    container: str  # libsndfile major format
    subtype: str  # libsndfile encoding


WAV = AudioFormat("wav", "audio/wav", "wav", "WAV", "PCM_16")
MP3 = AudioFormat("mp3", "audio/mpeg", "mp3", "MP3", "MPEG_LAYER_III")
OGG = AudioFormat("ogg", "audio/ogg", "ogg", "OGG", "VORBIS")
ALL_FORMATS = (WAV, MP3, OGG)
DEFAULT_FORMAT = spec.DEFAULT_FORMAT


@cache
def supported_formats() -> tuple[AudioFormat, ...]:
    """The formats this process can encode: WAV always, the others if libsndfile can."""
    writable = [WAV]
    for fmt in (MP3, OGG):
        if (
            fmt.container in soundfile.available_formats()
            and fmt.subtype in soundfile.available_subtypes(fmt.container)
        ):
            writable.append(fmt)
    return tuple(writable)


def format_named(name: str) -> AudioFormat:
    """The format called `name`; KeyError if there is none."""
    return {fmt.name: fmt for fmt in ALL_FORMATS}[name]


def encode_pcm16(pcm: bytes, sample_rate: int, fmt: AudioFormat) -> bytes:
    """Encode mono 16-bit PCM as `fmt`."""
    if fmt == WAV:
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as out:
            out.setnchannels(CHANNELS)
            out.setsampwidth(SAMPLE_WIDTH_BYTES)
            out.setframerate(sample_rate)
            out.writeframes(pcm)
        return buffer.getvalue()
    samples = np.frombuffer(pcm, dtype="<i2")
    buffer = io.BytesIO()
    with soundfile.SoundFile(
        buffer, "w", sample_rate, CHANNELS, format=fmt.container, subtype=fmt.subtype
    ) as out:
        for start in range(0, len(samples), ENCODE_BLOCK_FRAMES):
            out.write(samples[start : start + ENCODE_BLOCK_FRAMES])
    return buffer.getvalue()


def pcm16_duration(pcm: bytes, sample_rate: int) -> float:
    return len(pcm) / (SAMPLE_WIDTH_BYTES * CHANNELS) / sample_rate


def decoded_duration(data: bytes) -> float | None:
    """Seconds of audio in an encoded file, or None when libsndfile cannot read it."""
    try:
        info = soundfile.info(io.BytesIO(data))
    except (soundfile.LibsndfileError, RuntimeError):
        return None
    if info.samplerate <= 0 or info.frames <= 0:
        return None
    return info.frames / info.samplerate
