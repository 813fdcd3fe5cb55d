"""`soundbite dev`: the whole stack locally, on the embedded emulator (the toolkit's)."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import click

from soundbite import spec
from soundbite.interrupts import sigterm_interrupts


@click.group(invoke_without_command=True)
@click.option("--port", default=spec.API_PORT, show_default=True, type=click.IntRange(1, 65535),
              help="Port the API listens on (127.0.0.1).")
@click.option("--no-worker", is_flag=True, help="Run the API only.")
@click.option("--log-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path(".soundbite-dev"), show_default=True, help="Where process logs go.")
@click.pass_context
def dev(ctx: click.Context, port: int, no_worker: bool, log_dir: Path) -> None:
    """Start the emulator, bootstrap it (data plane and a local user pool), serve the API
    (and worker) until Ctrl-C or SIGTERM. `soundbite dev token --user NAME` prints a token
    for it, `soundbite dev user --user NAME` a password to sign in on the page.

    Refuses a port something else listens on (exit 5). Stops within a few seconds, and if
    any of its processes exits, stops the rest and says which. Its processes die with it
    even when it is killed outright.
    """
    if ctx.invoked_subcommand is not None:
        ctx.obj = {"log_dir": log_dir}
        return
    from soundbite.console import console as make_console
    from soundbite.exit_codes import ExitCode

    console = make_console(stderr=True)
    if not port_is_free(port):
        click.echo(f"Error: port {port} on 127.0.0.1 is in use; stop what listens there or "
                   f"pass --port", err=True)
        sys.exit(ExitCode.REFUSED)
    # Ctrl-C and SIGTERM mean the same thing at every moment: stop everything, exit 0. Both
    # raise KeyboardInterrupt wherever the main thread is (starting, printing the banner,
    # serving); shutdown itself ignores them, so a second Ctrl-C cannot leave a half-stop.
    with sigterm_interrupts():
        _serve(console, port, no_worker, log_dir)


def _serve(console, port: int, no_worker: bool, log_dir: Path) -> None:
    from infra.local.stack import LocalStack, LocalStackError

    stack = None
    try:
        with console.status("starting the emulator and bootstrapping the data plane"):
            try:
                stack = LocalStack(environment=spec.LOCAL_ENVIRONMENTS[0], log_dir=log_dir, bound=True,
                                   extra_env=DEV_ENV).__enter__()
            except Exception as exc:  # a one-line reason instead of a traceback
                raise click.ClickException(f"could not start the emulator: {exc}") from exc
        with console.status("starting the API" + ("" if no_worker else " and the worker")):
            lane = stack.add_lane("local", port, worker=not no_worker)
        console.print(f"[bold green]SoundBite is up[/] at {lane.url}  (emulator {stack.emulator.endpoint})")
        console.print(f"logs in {log_dir}/ ; press Ctrl-C to stop")
        console.print("sign in: soundbite dev user --user NAME (the page), "
                      "soundbite dev token --user NAME (Authorization: Bearer <token>)")
        watched = {"emulator": stack.emulator.process, "API": lane.api}
        if lane.worker is not None:
            watched["worker"] = lane.worker
        while True:
            time.sleep(0.5)
            for name, process in watched.items():
                if process.poll() is not None:
                    raise click.ClickException(
                        f"the {name} exited (code {process.returncode}); see {log_dir}/")
    except KeyboardInterrupt:
        pass
    except LocalStackError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if stack is not None:
            console.print("stopping")
            stack.stop()


DEV_ENV = {
    "SOUNDBITE_DEVELOPMENT": "true",
    # Stop within a few seconds: a short long poll and a short grace for in-flight jobs
    # (the emulator costs nothing per receive, and nothing here outlives the session).
    "SOUNDBITE_WORKER_POLL_SECONDS": "1",
    "SOUNDBITE_WORKER_GRACE_SECONDS": str(spec.LOCAL_WORKER_GRACE_SECONDS),
}


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether nothing listens on `host:port` (a bind would succeed)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As gunicorn binds: a closed connection's TIME_WAIT does not count, a listener does.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _local_pool(ctx: click.Context):
    from infra.local import cognito
    from infra.local.emulator import LOCAL_CREDENTIALS, LOCAL_REGION
    from infra.local.stack import POOL_FILE

    path = ctx.obj["log_dir"] / POOL_FILE
    if not path.exists():
        raise click.ClickException(f"no dev stack found ({path} is missing); start `soundbite dev` first")
    pool = cognito.LocalUserPool.load(path)
    import boto3

    client = boto3.session.Session(
        region_name=LOCAL_REGION, aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    ).client("cognito-idp", endpoint_url=pool.endpoint)
    return pool, client


@dev.command()
@click.option("--user", "username", required=True, help="The local user (created on first use).")
@click.option("--password", help="Its password [default: a new random one].")
@click.pass_context
def user(ctx: click.Context, username: str, password: str | None) -> None:
    """Create USER in the running dev stack's user pool (or reset its password) and print the
    password, to sign in on the page."""
    from infra.local import cognito

    pool, client = _local_pool(ctx)
    try:
        click.echo(cognito.ensure_user(client, pool, username, password))
    except Exception as exc:  # noqa: BLE001 - one line, not a traceback
        raise click.ClickException(f"could not create {username!r}: {exc}") from exc


@dev.command()
@click.option("--user", "username", required=True, help="The local user (created on first use).")
@click.option("--access", is_flag=True, help="Print an access token instead of an ID token.")
@click.pass_context
def token(ctx: click.Context, username: str, access: bool) -> None:
    """Print a token of the running dev stack's user pool for USER."""
    from infra.local import cognito

    pool, client = _local_pool(ctx)
    try:
        click.echo(cognito.token_for(client, pool, username, "AccessToken" if access else "IdToken"))
    except Exception as exc:  # noqa: BLE001 - one line, not a traceback
        raise click.ClickException(f"could not sign {username!r} in: {exc}") from exc
