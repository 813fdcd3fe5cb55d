"""The soundbite: its states, its keys, and the pure rules for creating and listing one."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum

from soundbite import spec
from soundbite.core.exceptions import InvalidRequest

ID_PATTERN = re.compile(r"\A[0-9a-f]{32}\Z")  # \Z: "$" would also accept a final newline
UNSAFE_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
"""Control characters other than tab and newlines, and lone surrogates (a JSON string may
carry one as an escape; a valid pair arrives as one character). Speech engines read some
control characters as commands (libespeak-ng's Ctrl-A sequences), and a lone surrogate cannot
be encoded at all."""


def unsafe_characters(text: str) -> list[str]:
    """The distinct unsafe characters in `text`, as U+XXXX, in order of appearance."""
    return list(dict.fromkeys(f"U+{ord(c):04X}" for c in UNSAFE_TEXT.findall(text)))


def neutralise(text: str) -> str:
    """`text` with every unsafe character replaced by a space."""
    return UNSAFE_TEXT.sub(" ", text)


class Status(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


def utcnow_iso(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_id() -> str:
    return uuid.uuid4().hex


def check_id(soundbite_id: str) -> str:
    if not ID_PATTERN.match(soundbite_id):
        raise InvalidRequest(
            "the soundbite id is not well formed",
            [{"pointer": "/id", "detail": "expected 32 lowercase hexadecimal characters"}],
        )
    return soundbite_id


@dataclass(frozen=True)
class Soundbite:
    id: str
    environment: str
    text: str
    voice: str
    format: str
    status: Status
    created_at: str
    updated_at: str
    user_id: str | None = None
    audio_key: str | None = None
    audio_bytes: int | None = None
    duration_seconds: float | None = None
    failure_reason: str | None = None
    expires_at: int | None = None

    @property
    def pk(self) -> str:
        return f"{self.environment}:{self.id}"

    @property
    def sk(self) -> str:
        return f"SOUNDBITE#{self.id}"

    def to_dict(self) -> dict:
        data = asdict(self)
        data["status"] = self.status.value
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Soundbite:
        fields = {k: data.get(k) for k in cls.__dataclass_fields__}
        fields["status"] = Status(fields["status"])
        return cls(**fields)


@dataclass(frozen=True)
class CreateRequest:
    text: str
    voice: str
    format: str


def parse_create(body: object, voices: set[str], formats: set[str],
                 default_voice: str = spec.DEFAULT_VOICE) -> CreateRequest:
    """Validate a create body; every problem is reported at once, each with a pointer.

    `default_voice` is the synthesizer's own (espeak's "en-us", Polly's "Joanna").
    """
    if not isinstance(body, dict):
        raise InvalidRequest(
            "the request body must be a JSON object",
            [{"pointer": "", "detail": 'expected an object such as {"text": "Hello"}'}],
        )
    errors: list[dict] = []
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        errors.append({"pointer": "/text", "detail": "required: a non-empty string"})
    elif len(text) > spec.TEXT_MAX_CHARS:
        errors.append({
            "pointer": "/text",
            "detail": f"at most {spec.TEXT_MAX_CHARS} characters, got {len(text)}",
        })
    elif found := unsafe_characters(text):
        errors.append({
            "pointer": "/text",
            "detail": "control characters (other than tab and newlines) and lone surrogates "
                      f"are not allowed; found {', '.join(found[:5])}",
        })
    voice = body.get("voice", default_voice)
    if not isinstance(voice, str) or voice not in voices:
        errors.append({
            "pointer": "/voice",
            "detail": f"unknown voice; one of: {', '.join(sorted(voices))} (see GET /v1/voices)",
        })
    fmt = body.get("format", spec.DEFAULT_FORMAT)
    if not isinstance(fmt, str) or fmt not in formats:
        errors.append({"pointer": "/format", "detail": f"one of: {', '.join(sorted(formats))}"})
    unknown = sorted(set(body) - {"text", "voice", "format"})
    for name in unknown:
        errors.append({"pointer": f"/{name}", "detail": "unknown field; allowed: text, voice, format"})
    if errors:
        raise InvalidRequest("the request body is not valid", errors)
    return CreateRequest(text=text, voice=voice, format=fmt)


def new_soundbite(
    request: CreateRequest, environment: str, user_id: str | None, now: datetime | None = None
) -> Soundbite:
    moment = now or datetime.now(UTC)
    stamp = utcnow_iso(moment)
    return Soundbite(
        id=new_id(),
        environment=environment,
        text=request.text,
        voice=request.voice,
        format=request.format,
        status=Status.PENDING,
        created_at=stamp,
        updated_at=stamp,
        user_id=user_id,
        expires_at=int(moment.timestamp()) + spec.SOUNDBITE_TTL_SECONDS,
    )


def audio_key(soundbite: Soundbite, extension: str) -> str:
    return f"{spec.AUDIO_BUCKET.audio_prefix}{soundbite.environment}/{soundbite.id}.{extension}"


class CursorCodec:
    """Opaque, signed list cursors: a tampered or foreign cursor is refused, never followed."""

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(secret.encode()).digest()

    def _sign(self, payload: bytes) -> str:
        return hmac.new(self._key, payload, hashlib.sha256).hexdigest()[:32]

    def encode(self, position: dict, user_id: str) -> str:
        payload = json.dumps({"p": position, "u": user_id}, separators=(",", ":")).encode()
        token = json.dumps({"d": payload.decode(), "s": self._sign(payload)}).encode()
        return base64.urlsafe_b64encode(token).decode().rstrip("=")

    def decode(self, cursor: str, user_id: str) -> dict:
        bad = InvalidRequest(
            "the cursor is not valid",
            [{"pointer": "/cursor", "detail": "pass back the next_cursor of a previous page unchanged"}],
        )
        if len(cursor) > CURSOR_MAX_CHARS:
            raise bad
        try:
            token = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
            if not (isinstance(token, dict) and isinstance(token.get("d"), str)
                    and isinstance(token.get("s"), str)):
                raise bad
            payload = token["d"].encode()
            if not hmac.compare_digest(self._sign(payload), token["s"]):
                raise bad
            data = json.loads(payload)
        except (ValueError, TypeError, binascii.Error, UnicodeError, RecursionError) as exc:
            raise bad from exc
        if not isinstance(data, dict) or data.get("u") != user_id:
            raise bad
        position = data.get("p")
        if not position_shape_ok(position):
            raise bad
        return position


CURSOR_FIELDS = frozenset({"pk", "sk", "userId", "environmentCreatedAt"})
"""The keys of the user index's LastEvaluatedKey: all a list position may hold."""
POSITION_VALUE_MAX_CHARS = 1024
CURSOR_MAX_CHARS = 8 * POSITION_VALUE_MAX_CHARS
"""Longer than any cursor this service makes (four positions at most, signed and encoded)."""


def position_shape_ok(position: object) -> bool:
    """A position this service could have made: the user index's four string keys."""
    return (isinstance(position, dict) and set(position) == CURSOR_FIELDS
            and all(isinstance(v, str) and 0 < len(v) <= POSITION_VALUE_MAX_CHARS for v in position.values()))
