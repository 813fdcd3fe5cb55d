"""A ctypes binding to libespeak-ng, as shipped by the `espeakng-loader` wheel.

libespeak-ng keeps its state in process globals and is not thread-safe, so there is one
`EspeakEngine` per process, initialized lazily on first use, and every call into the library
holds one lock. The engine runs in synchronous mode: `espeak_Synth` returns only when the whole
text is spoken, having handed the 16-bit samples to our callback in chunks.
"""

from __future__ import annotations

import ctypes
import os
import threading
from dataclasses import dataclass

from worker.exceptions import EngineUnavailable, SynthesisError, TextRejected

AUDIO_OUTPUT_SYNCHRONOUS = 2
INITIALIZE_DONT_EXIT = 0x8000  # without it the library calls exit() when its data is missing
POS_CHARACTER = 1
CHARS_UTF8 = 1
EE_OK = 0
CALLBACK_CONTINUE = 0
GENDERS = {1: "male", 2: "female"}
# espeak_PARAMETER: every one a text's embedded commands (Ctrl-A sequences) or a caller can
# change, and that would otherwise stay set in the process-wide engine for the next text.
PARAMETERS = {
    "rate": 1, "volume": 2, "pitch": 3, "range": 4, "punctuation": 5, "capitals": 6,
    "wordgap": 7, "intonation": 9, "emphasis": 12,
}
EMBEDDED_DEFAULTS = "\x010H\x010T\x010F "
"""Echo (H), tone (T) and emphasis (F) have no parameter that resets them, only embedded
commands: every text starts with the commands that set them back to their defaults (0)."""


class _EspeakVoice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),  # (priority byte, NUL-terminated language)*, then 0
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


@dataclass(frozen=True)
class EngineVoice:
    """A voice file as libespeak-ng lists it."""

    name: str
    identifier: str  # path below espeak-ng-data/voices, e.g. "gmw/en-US"
    languages: tuple[str, ...]
    gender: str | None


def _languages(address: int | None) -> tuple[str, ...]:
    found = []
    offset = 0
    while address and ctypes.string_at(address + offset, 1) != b"\x00":
        language = ctypes.string_at(address + offset + 1)
        found.append(language.decode())
        offset += 1 + len(language) + 1
    return tuple(found)


def _load_library() -> tuple[ctypes.CDLL, str]:
    try:
        import espeakng_loader

        library = ctypes.CDLL(espeakng_loader.get_library_path())
        data_path = espeakng_loader.get_data_path()
    except (ImportError, OSError, RuntimeError) as exc:
        raise EngineUnavailable(f"libespeak-ng could not be loaded: {exc}") from exc
    library.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    library.espeak_Initialize.restype = ctypes.c_int
    library.espeak_SetSynthCallback.argtypes = [_SynthCallback]
    library.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    library.espeak_SetVoiceByName.restype = ctypes.c_int
    library.espeak_ListVoices.argtypes = [ctypes.POINTER(_EspeakVoice)]
    library.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_EspeakVoice))
    library.espeak_Synth.argtypes = [
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_uint,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_uint,
        ctypes.c_void_p,
        ctypes.c_void_p,
    ]
    library.espeak_Synth.restype = ctypes.c_int
    library.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    library.espeak_SetParameter.restype = ctypes.c_int
    library.espeak_GetParameter.argtypes = [ctypes.c_int, ctypes.c_int]
    library.espeak_GetParameter.restype = ctypes.c_int
    return library, data_path


class EspeakEngine:
    """The process's libespeak-ng: list voices and turn text into 16-bit mono PCM."""

    def __init__(self) -> None:
        library, data_path = _load_library()
        sample_rate = library.espeak_Initialize(
            AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(), INITIALIZE_DONT_EXIT
        )
        if sample_rate <= 0:
            raise EngineUnavailable(f"libespeak-ng failed to initialize with data at {data_path}")
        self._library = library
        self.sample_rate: int = sample_rate
        self._chunks: list[bytes] = []
        # Kept on the instance: ctypes frees the trampoline when the Python object dies.
        self._callback = _SynthCallback(self._collect)
        library.espeak_SetSynthCallback(self._callback)
        # The engine's own defaults (current=0), read once before any text could change them.
        self._defaults = {name: library.espeak_GetParameter(number, 0)
                          for name, number in PARAMETERS.items()}

    def parameters(self) -> dict[str, int]:
        """The engine's current parameter values (what the next text would start from)."""
        with _LOCK:
            return {name: self._library.espeak_GetParameter(number, 1)
                    for name, number in PARAMETERS.items()}

    def _reset_parameters(self) -> None:
        """Every parameter back to its default; the caller holds the lock."""
        for name, number in PARAMETERS.items():
            default = self._defaults[name]
            status = self._library.espeak_SetParameter(number, default, 0)
            # Some builds answer an error for a parameter already at its value (punctuation,
            # capitals); only a parameter left off its default is a failure.
            if status != EE_OK and self._library.espeak_GetParameter(number, 1) != default:
                raise SynthesisError(f"libespeak-ng refused to reset {name} (status {status})")

    def _collect(self, samples, count, events) -> int:
        if samples and count > 0:
            self._chunks.append(ctypes.string_at(samples, count * ctypes.sizeof(ctypes.c_short)))
        return CALLBACK_CONTINUE

    def list_voices(self) -> list[EngineVoice]:
        """The language voices in the engine's data."""
        return self._list(None)

    def list_variants(self) -> list[EngineVoice]:
        """The variants ("+f3", "+m2") that modify any language voice."""
        selector = ctypes.create_string_buffer(b"variant")  # alive until _list returns
        spec = _EspeakVoice(languages=ctypes.addressof(selector))
        return self._list(ctypes.byref(spec))

    def _list(self, spec) -> list[EngineVoice]:
        with _LOCK:
            table = self._library.espeak_ListVoices(spec)
            voices = []
            index = 0
            while table[index]:
                entry = table[index].contents
                voices.append(
                    EngineVoice(
                        name=entry.name.decode(),
                        identifier=entry.identifier.decode(),
                        languages=_languages(entry.languages),
                        gender=GENDERS.get(entry.gender),
                    )
                )
                index += 1
        return voices

    def synthesize_pcm(self, text: str, voice_name: str) -> bytes:
        """Speak `text` with the engine voice `voice_name` ("en-us", "en-us+f3").

        Every parameter is reset first, so nothing an earlier text set (its embedded commands
        change volume, rate, pitch... in the shared engine) reaches this one.
        """
        encoded = (EMBEDDED_DEFAULTS + text).encode("utf-8", "replace")
        with _LOCK:
            self._reset_parameters()
            status = self._library.espeak_SetVoiceByName(voice_name.encode())
            if status != EE_OK:
                raise SynthesisError(
                    f"libespeak-ng has no voice named {voice_name!r} (status {status})"
                )
            self._chunks = []
            status = self._library.espeak_Synth(
                encoded, len(encoded) + 1, 0, POS_CHARACTER, 0, CHARS_UTF8, None, None
            )
            pcm = b"".join(self._chunks)
            self._chunks = []
        if status != EE_OK:
            raise SynthesisError(f"libespeak-ng failed to synthesize (status {status})")
        if not pcm.strip(b"\x00"):
            # Punctuation-only text ("...") comes back as a few samples of pure silence.
            raise TextRejected("the text contains nothing to speak")
        return pcm


_LOCK = threading.Lock()
_ENGINE: EspeakEngine | None = None


def engine() -> EspeakEngine:
    """The process-wide engine, initialized on first use."""
    global _ENGINE
    if _ENGINE is None:
        with _LOCK:
            if _ENGINE is None:
                _ENGINE = EspeakEngine()
    return _ENGINE


def _reset_lock_after_fork() -> None:
    # A child forked while another thread held the lock would otherwise wait forever.
    global _LOCK
    _LOCK = threading.Lock()


os.register_at_fork(after_in_child=_reset_lock_after_fork)
