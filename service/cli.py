"""`soundbite api`: what the image runs (`soundbite dev`, the local stack, is infra/local/dev.py)."""

from __future__ import annotations

import os
import sys

import click


@click.command()
def api() -> None:
    """Serve the API with gunicorn and the project's settings (threaded workers)."""
    argv = [sys.executable, "-m", "gunicorn", "-c", "python:service.gunicorn_conf", "soundbite.wsgi:app"]
    os.execv(sys.executable, argv)
