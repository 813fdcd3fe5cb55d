"""espeak-ng synthesis: real audio from the bundled libespeak-ng, checked by decoding it.

No fixed bytes: libespeak-ng carries a little waveform state from one utterance to the next,
so the same text is never byte-identical twice. The checks are on what a listener would notice:
the file plays (the container parses), longer text lasts longer, voices sound different.
"""

from __future__ import annotations

import contextlib
import io
import wave
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import soundfile

from soundbite.core.synth.catalog import CURATED_VOICES, CuratedVoice, EspeakCatalog
from worker.exceptions import PermanentError, TextRejected, UnsupportedFormat, UnsupportedVoice
from worker.synth.espeak import DEFAULT_VOICE, EspeakSynthesizer

SAMPLE_RATE = 22050  # what libespeak-ng produces
SENTENCE = "The quick brown fox jumps over the lazy dog near the river bank."
TEXT_200 = ((SENTENCE + " ") * 4)[:200]


@pytest.fixture(scope="module")
def espeak() -> EspeakSynthesizer:
    return EspeakSynthesizer()


def pcm_of(data: bytes) -> np.ndarray:
    samples, _ = soundfile.read(io.BytesIO(data), dtype="int16")
    return samples


def median_pitch_hz(samples: np.ndarray, rate: int = SAMPLE_RATE) -> float:
    """Median fundamental frequency over voiced frames, by autocorrelation."""
    frame = 1024
    shortest, longest = rate // 400, rate // 60  # human voice: 60..400 Hz
    pitches = []
    for start in range(0, len(samples) - frame, frame // 2):
        chunk = samples[start : start + frame].astype(float)
        chunk -= chunk.mean()
        if np.sqrt(np.mean(chunk**2)) < 1000:  # silence or a quiet consonant
            continue
        corr = np.correlate(chunk, chunk, "full")[frame - 1 :]
        lag = shortest + int(np.argmax(corr[shortest:longest]))
        if corr[lag] > 0.3 * corr[0]:
            pitches.append(rate / lag)
    assert len(pitches) > 20, "too few voiced frames to judge the pitch"
    return float(np.median(pitches))


def test_offers_a_stable_list_of_voices_with_the_default_first(espeak):
    voices = espeak.voices()
    ids = [v.id for v in voices]
    assert len(voices) >= 5
    assert len(set(ids)) == len(ids)
    assert ids[0] == DEFAULT_VOICE == espeak.default_voice
    assert {"en-US", "en-GB", "de-DE", "fr-FR", "es-ES"} <= {v.language for v in voices}
    assert {v.gender for v in voices} == {"male", "female"}
    assert EspeakSynthesizer().voices() == voices


def test_offers_wav_and_compressed_formats(espeak):
    assert set(espeak.formats()) >= {"wav", "ogg"}
    assert "mp3" in espeak.formats(), "the soundfile wheel bundles an MP3-capable libsndfile"


def test_wav_parses_as_mono_16_bit_at_the_engine_rate(espeak):
    audio = espeak.synthesize(SENTENCE, DEFAULT_VOICE, "wav")
    with wave.open(io.BytesIO(audio.data)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, SAMPLE_RATE)
        frames = wav.getnframes()
        samples = np.frombuffer(wav.readframes(frames), dtype="<i2")
    assert audio.content_type == "audio/wav"
    assert audio.sample_rate == SAMPLE_RATE
    assert audio.duration_seconds == pytest.approx(frames / SAMPLE_RATE)
    assert 2.0 < audio.duration_seconds < 8.0
    assert np.abs(samples).max() > 5000, "speech, not silence"


@pytest.mark.parametrize(("fmt", "content_type"), [("mp3", "audio/mpeg"), ("ogg", "audio/ogg")])
def test_compressed_audio_decodes_to_the_same_speech(espeak, fmt, content_type):
    audio = espeak.synthesize(SENTENCE, DEFAULT_VOICE, fmt)
    reference = pcm_of(espeak.synthesize(SENTENCE, DEFAULT_VOICE, "wav").data)
    info = soundfile.info(io.BytesIO(audio.data))
    decoded = pcm_of(audio.data)
    assert audio.content_type == content_type
    assert (info.samplerate, info.channels) == (SAMPLE_RATE, 1)
    # MP3 frames pad the end, so the decoded length is a little over the spoken length.
    assert len(decoded) / SAMPLE_RATE == pytest.approx(audio.duration_seconds, abs=0.1)
    assert len(audio.data) < audio.duration_seconds * SAMPLE_RATE * 2 / 3, "actually compressed"
    assert median_pitch_hz(decoded) == pytest.approx(median_pitch_hz(reference), rel=0.1)


@pytest.mark.parametrize("fmt", ["wav", "mp3", "ogg"])
def test_duration_grows_with_the_text(espeak, fmt):
    short = espeak.synthesize(TEXT_200[:20], DEFAULT_VOICE, fmt)
    long = espeak.synthesize(TEXT_200, DEFAULT_VOICE, fmt)
    assert long.duration_seconds > 5 * short.duration_seconds
    assert len(long.data) > 5 * len(short.data)


@pytest.mark.parametrize(("male", "female"), [("en-us", "en-us-f"), ("en-gb", "en-gb-f")])
def test_female_variant_is_pitched_well_above_the_male_voice(espeak, male, female):
    low = median_pitch_hz(pcm_of(espeak.synthesize(SENTENCE, male, "wav").data))
    high = median_pitch_hz(pcm_of(espeak.synthesize(SENTENCE, female, "wav").data))
    assert 80 < low < 140
    assert high > 1.5 * low


def test_every_offered_voice_speaks(espeak):
    durations = {
        v.id: espeak.synthesize("Bonjour, hello, hola, guten Tag.", v.id, "wav").duration_seconds
        for v in espeak.voices()
    }
    assert all(seconds > 1.0 for seconds in durations.values()), durations


def test_the_engine_offers_every_voice_of_the_catalog(espeak):
    """The API lists the core's catalog without loading the engine: the engine's data must
    have every curated voice, so the API offers no voice the worker cannot speak."""
    assert espeak.voices() == EspeakCatalog().voices()
    assert espeak.formats() == EspeakCatalog().formats()


@pytest.mark.parametrize("voice", [c.id for c in CURATED_VOICES])
def test_every_curated_voice_speaks(espeak, voice):
    audio = espeak.synthesize("Bonjour, hello, hola, guten Tag.", voice, "wav")
    assert audio.duration_seconds > 1.0
    assert np.abs(pcm_of(audio.data)).max() > 5000, "speech, not silence"


def test_a_curated_voice_the_engine_lacks_is_refused_for_good():
    missing = CuratedVoice("xx", "Nowhere", "xx-XX", "male", "zzz/no-such-voice")
    synth = EspeakSynthesizer(catalog=EspeakCatalog((*CURATED_VOICES, missing)))
    assert "xx" not in {v.id for v in synth.voices()}
    with pytest.raises(UnsupportedVoice, match="'xx'"):
        synth.synthesize(SENTENCE, "xx", "wav")


def test_unknown_voice_is_permanent_and_names_the_choices(espeak):
    with pytest.raises(UnsupportedVoice) as caught:
        espeak.synthesize(SENTENCE, "klingon", "wav")
    assert isinstance(caught.value, PermanentError)
    assert "'klingon'" in str(caught.value)
    assert all(v.id in str(caught.value) for v in espeak.voices())


def test_unknown_format_is_permanent_and_names_the_choices(espeak):
    with pytest.raises(UnsupportedFormat) as caught:
        espeak.synthesize(SENTENCE, DEFAULT_VOICE, "flac")
    assert isinstance(caught.value, PermanentError)
    assert "'flac'" in str(caught.value)
    assert all(name in str(caught.value) for name in espeak.formats())


@pytest.mark.parametrize(
    ("text", "reason"),
    [("", "empty"), (" \n\t ", "empty"), ("...", "nothing to speak"),
     ("\x00\x01\x7f\ud800", "empty")],
)
def test_text_with_nothing_to_speak_is_rejected(espeak, text, reason):
    with pytest.raises(TextRejected, match=reason):
        espeak.synthesize(text, DEFAULT_VOICE, "wav")


def test_non_ascii_text_is_spoken(espeak):
    audio = espeak.synthesize("Schöne Grüße aus München, Straße für Straße.", "de", "ogg")
    assert audio.duration_seconds > 2.0


def test_concurrent_synthesis_matches_sequential(espeak):
    jobs = [
        (TEXT_200[:30], "en-us"),
        (TEXT_200[:60], "en-gb-f"),
        (TEXT_200[:120], "de"),
        (TEXT_200, "fr"),
    ] * 3
    sequential = [espeak.synthesize(text, voice, "wav") for text, voice in jobs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(lambda job: espeak.synthesize(job[0], job[1], "wav"), jobs))
    for alone, together in zip(sequential, concurrent, strict=True):
        # Interleaved callbacks would mix samples of different texts and change the length.
        assert together.duration_seconds == pytest.approx(alone.duration_seconds, abs=0.02)
        assert median_pitch_hz(pcm_of(together.data)) == pytest.approx(
            median_pitch_hz(pcm_of(alone.data)), rel=0.1
        )


HOSTILE = [
    "\u00010A hi",  # volume 0: every later text silent
    "\u0001200A hi",  # volume 200
    "\u000180S hi",  # slowest rate
    "\u0001450S hi",  # fastest rate
    "\u000199P\u00010R hi",  # pitch and range
    "\u000199F hi",  # emphasis
    "\u000199H hi",  # echo
    "\u000199T hi",  # tone
    "hello \ud800 world",  # a lone surrogate
]


def loudness(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(float) ** 2)))


def _next_job(espeak) -> tuple[float, float]:
    audio = espeak.synthesize(SENTENCE, DEFAULT_VOICE, "wav")
    return audio.duration_seconds, loudness(pcm_of(audio.data))


@pytest.mark.parametrize("hostile", HOSTILE)
def test_a_hostile_text_never_changes_the_next_job(espeak, hostile):
    duration, level = _next_job(espeak)
    with contextlib.suppress(TextRejected):  # refusing it is fine; changing the next job is not
        espeak.synthesize(hostile, DEFAULT_VOICE, "wav")
    after_duration, after_level = _next_job(espeak)
    assert after_duration == pytest.approx(duration, rel=0.01)
    assert after_level == pytest.approx(level, rel=0.02)


@pytest.mark.parametrize("hostile", HOSTILE[:-1])
def test_the_engine_resets_what_embedded_commands_set(espeak, hostile):
    """Below the synthesizer's neutralising: the engine itself, given raw Ctrl-A commands."""
    from worker.synth import libespeak

    duration, level = _next_job(espeak)
    with contextlib.suppress(TextRejected):
        libespeak.engine().synthesize_pcm(hostile, "en-us")
    after_duration, after_level = _next_job(espeak)
    assert after_duration == pytest.approx(duration, rel=0.01)
    assert after_level == pytest.approx(level, rel=0.02)


def test_control_characters_are_spoken_as_spaces(espeak):
    plain = espeak.synthesize("hello world", DEFAULT_VOICE, "wav")
    hostile = espeak.synthesize("hello\u0001world\u001b", DEFAULT_VOICE, "wav")
    assert hostile.duration_seconds == pytest.approx(plain.duration_seconds, rel=0.01)
