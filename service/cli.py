"""`soundbite api` (what the image runs) and `soundbite dev` (the whole stack locally)."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

import click

from soundbite import spec


@click.command()
def api() -> None:
    """Serve the API with gunicorn and the project's settings (threaded workers)."""
    argv = [sys.executable, "-m", "gunicorn", "-c", "python:service.gunicorn_conf", "service.wsgi:app"]
    os.execv(sys.executable, argv)


@click.command()
@click.option("--port", default=spec.API_PORT, show_default=True, type=click.IntRange(1, 65535),
              help="Port the API listens on (127.0.0.1).")
@click.option("--no-worker", is_flag=True, help="Run the API only.")
@click.option("--log-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path(".soundbite-dev"), show_default=True, help="Where process logs go.")
def dev(port: int, no_worker: bool, log_dir: Path) -> None:
    """Start the emulator, bootstrap it, serve the API (and worker) until Ctrl-C."""
    from rich.console import Console

    from infra.local.stack import LocalStack, LocalStackError

    console = Console(stderr=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with console.status("starting the emulator and bootstrapping the data plane"):
            stack = LocalStack(environment="dev", log_dir=log_dir,
                               extra_env={"SOUNDBITE_DEVELOPMENT": "true"}).__enter__()
    except Exception as exc:  # a one-line reason instead of a traceback
        raise click.ClickException(f"could not start the emulator: {exc}") from exc
    try:
        with console.status("starting the API" + ("" if no_worker else " and the worker")):
            lane = stack.add_lane("local", port, worker=not no_worker)
        console.print(f"[bold green]SoundBite is up[/] at {lane.url}  (emulator {stack.emulator.endpoint})")
        console.print(f"logs in {log_dir}/ ; press Ctrl-C to stop")
        try:
            while not stop.wait(0.5):
                if lane.api.poll() is not None:
                    raise click.ClickException(f"the API exited (code {lane.api.returncode}); see {log_dir}/")
        except KeyboardInterrupt:
            pass
    except LocalStackError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        console.print("stopping")
        stack.stop()
