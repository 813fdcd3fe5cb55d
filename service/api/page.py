"""`GET /`: the small page that creates soundbites and plays them (templates + static)."""

from __future__ import annotations

from flask import Blueprint, render_template

from infra import spec

bp = Blueprint("page", __name__)


@bp.get("/")
def index():
    return render_template("index.html", text_max=spec.TEXT_MAX_CHARS,
                           default_voice=spec.DEFAULT_VOICE)
