"""`/v1/soundbites`: create, read, fetch audio, list a user's soundbites."""

from __future__ import annotations

import json

import orjson
from flask import Blueprint, Response, g, redirect, request, url_for
from werkzeug.exceptions import UnsupportedMediaType

from service.api import context, telemetry
from service.api.auth import current_user
from soundbite import spec
from soundbite.core import domain
from soundbite.core.domain import Soundbite, Status
from soundbite.core.exceptions import InvalidRequest, NotFound, NotReady

bp = Blueprint("soundbites", __name__, url_prefix="/v1/soundbites")


@bp.after_request
def _no_store(response: Response) -> Response:
    # Bodies and redirects here carry presigned links and a user's own data: no cache, shared
    # or private, may keep them.
    response.headers["Cache-Control"] = "no-store"
    return response


def represent(soundbite: Soundbite) -> dict:
    """The public view of a soundbite: the same bytes whichever backend serves it."""
    body = {
        "id": soundbite.id,
        "status": soundbite.status.value,
        "voice": soundbite.voice,
        "format": soundbite.format,
        "text_length": len(soundbite.text),
        "created_at": soundbite.created_at,
        "updated_at": soundbite.updated_at,
    }
    if soundbite.user_id:
        body["user_id"] = soundbite.user_id
    if soundbite.status is Status.READY and soundbite.audio_key:
        body["audio_url"] = context.audio_store().presigned_url(soundbite.audio_key)
        body["duration_seconds"] = soundbite.duration_seconds
        body["audio_bytes"] = soundbite.audio_bytes
    if soundbite.status is Status.FAILED:
        body["failure_reason"] = soundbite.failure_reason
    return body


def json_response(body: dict, status: int = 200, headers: dict | None = None) -> Response:
    response = Response(orjson.dumps(body), status=status, mimetype="application/json")
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def read_json_body() -> object:
    if request.mimetype != "application/json":
        raise UnsupportedMediaType("send the body as JSON with Content-Type: application/json")
    try:
        return json.loads(request.get_data(cache=True).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidRequest(
            "the request body is not valid JSON",
            [{"pointer": "", "detail": 'send a UTF-8 JSON object such as {"text": "Hello"}'}],
        ) from exc


@bp.post("")
def create():
    """Idempotent: the factory wraps this view (service.api.idempotency), not the view itself."""
    synth = context.catalog()
    req = domain.parse_create(read_json_body(), {v.id for v in synth.voices()},
                              set(synth.formats()), synth.default_voice)
    soundbite = domain.new_soundbite(req, context.settings().environment, current_user())
    # Everything the store could refuse is refused here, before the job is queued: a create
    # that answers 4xx leaves nothing behind.
    context.repository().check(soundbite)
    # Queue first, then write: a record can never exist without its job. If the write fails
    # the job is an orphan, which the worker drops once it is older than the grace period.
    context.publisher().publish(soundbite, g.get("correlation_id", ""))
    context.repository().create(soundbite)
    telemetry.record_creation(soundbite)
    location = url_for("soundbites.get_one", soundbite_id=soundbite.id)
    return json_response(represent(soundbite), 202, {"Location": location})


def load(soundbite_id: str, fresh: bool = False) -> Soundbite:
    """The caller's soundbite. Another user's answers exactly as a missing one does, so an
    id reveals nothing about whose it is; an anonymous one (local only) is anyone's."""
    domain.check_id(soundbite_id)
    reader = context.soundbite_reader()
    soundbite = reader.refresh(soundbite_id) if fresh else reader.get(soundbite_id)
    if soundbite is None or (soundbite.user_id and soundbite.user_id != current_user()):
        raise NotFound(f"no soundbite with id {soundbite_id}")
    return soundbite


@bp.get("/<soundbite_id>")
def get_one(soundbite_id: str):
    return json_response(represent(load(soundbite_id)))


@bp.get("/<soundbite_id>/audio")
def audio(soundbite_id: str):
    soundbite = load(soundbite_id)
    if soundbite.status is not Status.READY:
        # Never refuse audio on a cached status: the worker may have finished since.
        soundbite = load(soundbite_id, fresh=True)
    if soundbite.status is not Status.READY or not soundbite.audio_key:
        raise NotReady(soundbite.status.value)
    return redirect(context.audio_store().presigned_url(soundbite.audio_key), 302)


def _limit() -> int:
    raw = request.args.get("limit", str(spec.LIST_LIMIT_DEFAULT))
    # ASCII digits only: str.isdigit() also accepts "²", which int() refuses; and few of them:
    # int() refuses more than 4300 digits.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= len(str(spec.LIST_LIMIT_MAX))) \
            or not 1 <= int(raw) <= spec.LIST_LIMIT_MAX:
        raise InvalidRequest("the limit is out of range", [{
            "pointer": "/limit", "detail": f"an integer from 1 to {spec.LIST_LIMIT_MAX}",
        }])
    return int(raw)


@bp.get("")
def list_for_user():
    """The caller's soundbites. `user_id`, if given, must be the caller's own: another
    user's list answers 404, as their soundbites do."""
    user_id = current_user()
    if user_id is None:
        raise InvalidRequest("only a signed-in user has a list", [{
            "pointer": "/headers/Authorization", "detail": "send Authorization: Bearer <token>",
        }])
    limit = _limit()
    asked = request.args.get("user_id")
    if asked is not None and asked != user_id:
        raise NotFound("no soundbites for that user")
    cursor = request.args.get("cursor")
    start = context.cursors().decode(cursor, user_id) if cursor else None
    items, position = context.repository().list_by_user(user_id, limit, start)
    body = {"items": [represent(s) for s in items], "next_cursor": None}
    if position:
        body["next_cursor"] = context.cursors().encode(position, user_id)
    return json_response(body)
