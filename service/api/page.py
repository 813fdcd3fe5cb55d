"""`GET /`: the small page that creates soundbites and plays them (templates + static)."""

from __future__ import annotations

from flask import Blueprint, render_template

from service.api import context
from soundbite import spec

bp = Blueprint("page", __name__)


@bp.get("/")
def index():
    settings = context.settings()
    return render_template("index.html", text_max=spec.TEXT_MAX_CHARS,
                           default_voice=context.catalog().default_voice,
                           sign_in=sign_in_endpoint(settings), client_id=settings.auth_audience)


def sign_in_endpoint(settings) -> str:
    """Where the page signs users in: the user pool's Cognito endpoint (the JWKS address's
    origin, AWS's or the emulator's); empty when the API takes anonymous callers."""
    if not settings.auth_required or not settings.auth_jwks_url:
        return ""
    from service.api.security import origin_of

    return origin_of(settings.auth_jwks_url)
