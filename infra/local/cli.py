"""`soundbite emulator`: the local AWS emulator, bootstrapped from the resource spec."""

from __future__ import annotations

import json
import signal
import threading

import click


@click.command()
@click.option("--port", type=click.IntRange(1, 65535), help="Port on 127.0.0.1 (default: a free one).")
@click.option("--environment", default="local", show_default=True,
              help="Environment name the resource names are derived from.")
@click.option("--json", "as_json", is_flag=True, help="Print the environment as JSON.")
def emulator(port: int | None, environment: str, as_json: bool) -> None:
    """Start the emulator, create the data plane, print its variables, run until Ctrl-C."""
    from infra.local import bootstrap
    from infra.local import emulator as local_emulator

    try:
        running = local_emulator.start(port)
    except (local_emulator.EmulatorError, OSError) as exc:
        raise click.ClickException(f"could not start the emulator: {exc}") from exc
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        plane = bootstrap.bootstrap(running.endpoint, environment)
        variables = {**running.env, **plane.service_env()}
        if as_json:
            click.echo(json.dumps(variables, indent=2))
        else:
            click.echo("\n".join(f"export {k}={v}" for k, v in variables.items()))
            click.echo("# the emulator runs until Ctrl-C", err=True)
        try:
            while not stop.wait(0.5) and running.alive():
                pass
        except KeyboardInterrupt:
            pass
    finally:
        running.stop()
