"""`GET /`: the small page that creates soundbites and plays them (templates + static)."""

from __future__ import annotations

from flask import Blueprint, render_template

from service.api import context
from soundbite import spec

bp = Blueprint("page", __name__)


@bp.get("/")
def index():
    return render_template("index.html", text_max=spec.TEXT_MAX_CHARS,
                           default_voice=context.catalog().default_voice)
