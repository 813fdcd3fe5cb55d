"""`soundbite dlq inspect|redrive`: the operator's face on the DLQ redrive.

Apart from the worker's face because `--config` reads the target file of `soundbite migrate`
(the toolkit's), which the worker, the API and their core never import.

Exit codes: 0 success; 1 error (AWS failure, a message that could not be moved); 2 usage
(click's own); 5 refused (a redrive not confirmed: "no" on a terminal, or no terminal and no
`--yes`); 130 Ctrl-C at the prompt.
"""

from __future__ import annotations

import json
import sys

import click

from soundbite.core.config import ConfigError, Settings
from soundbite.exit_codes import ExitCode
from worker.redrive import DEFAULT_LIMIT


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="The target file `soundbite migrate` uses (environment, region, queue names); "
                   "without it, the SOUNDBITE_* environment variables.")
@click.pass_context
def dlq(ctx: click.Context, config_path: str | None) -> None:
    """Inspect and redrive the dead-letter queue."""
    ctx.obj = {"config": config_path}


def _dlq_settings() -> Settings:
    """Settings from the --config target file when given, else from the environment."""
    path = (click.get_current_context().find_object(dict) or {}).get("config")
    if not path:
        return _settings()
    from migration.target import load_target  # the toolkit's; only --config needs it
    from soundbite.core import aws

    try:
        target = load_target(path)
    except ModuleNotFoundError:
        raise  # a runtime install without the toolkit: the root names the extra
    except Exception as exc:  # noqa: BLE001 - a bad file is one line, exit 2
        click.echo(f"Error: {exc}", err=True)
        sys.exit(ExitCode.USAGE)
    import boto3

    sqs = boto3.session.Session(region_name=target.region).client("sqs")
    try:
        urls = {name: sqs.get_queue_url(QueueName=name)["QueueUrl"] for name in (target.queue, target.dlq)}
    except aws.AWS_ERRORS as exc:
        raise click.ClickException(f"could not find the queues named in {path} "
                                   f"({aws.error_code(exc)})") from exc
    from soundbite import spec

    return _settings().updated({"environment": target.environment,
                                "table": target.names.table(spec.SOUNDBITES_TABLE),
                                "queue_url": urls[target.queue], "dlq_url": urls[target.dlq]})


def _redriver(settings: Settings):
    from worker import factory
    from worker.exceptions import WorkerError

    # EMF lines are for CloudWatch (the scheduled task's log stream), not for a person at a
    # terminal; stdout stays clean for --json either way.
    metrics = None if sys.stderr.isatty() else factory.worker_metrics(settings, stream=sys.stderr)
    try:
        return factory.build_redriver(settings, metrics)
    except WorkerError as exc:
        raise click.ClickException(str(exc)) from exc


@dlq.command()
@click.option("--max", "limit", type=click.IntRange(1, 10_000), default=DEFAULT_LIMIT, show_default=True,
              help="Look at no more than this many messages.")
@click.option("--json", "as_json", is_flag=True, help="Print the messages as JSON.")
def inspect(limit: int, as_json: bool) -> None:
    """Show dead letters without removing them or hiding them.

    SQS has no read-only receive: each look counts as a receive of the message. The
    receives shown are those before this look.
    """
    from rich.table import Table

    from soundbite.console import console as make_console
    from worker.exceptions import WorkerError

    redriver = _redriver(_dlq_settings())
    try:
        entries = redriver.inspect(limit)
    except WorkerError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps({"count": len(entries), "messages": [e.to_dict() for e in entries]}, indent=2))
        return
    console = make_console()
    if not entries:
        console.print("the DLQ is empty")
        return
    table = Table(title=f"{len(entries)} dead letter(s)")
    for column in ("message id", "soundbite", "receives", "redrives", "age", "body"):
        table.add_column(column)
    for e in entries:
        table.add_row(e.message_id, e.soundbite_id or "-", str(e.receives), str(e.redrive_count),
                      _age(e.age_seconds), e.summary)
    console.print(table)


@dlq.command()
@click.option("--max", "limit", type=click.IntRange(1, 10_000), default=DEFAULT_LIMIT, show_default=True,
              help="Move no more than this many messages.")
@click.option("--dry-run", is_flag=True, help="Show what would move; change nothing.")
@click.option("--yes", is_flag=True, help="Confirm without asking (required unattended: the schedule passes it).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def redrive(limit: int, dry_run: bool, yes: bool, as_json: bool) -> None:
    """Move dead letters back to the jobs queue, with a delay that doubles per redrive.

    Messages keep their attributes and gain redriveCount, originalMessageId and redrivenAt.
    Messages redriven too often stay in the DLQ, and their soundbites are marked failed. It
    asks first unless --yes: "no" exits 5, and with no terminal to ask on (the dev and
    staging schedule passes --yes) it refuses with exit 5.
    """
    from rich.progress import Progress

    from soundbite.confirm import confirm
    from soundbite.console import console as make_console
    from worker.exceptions import WorkerError

    settings = _dlq_settings()
    if not dry_run:
        confirm(f"Redrive up to {limit} dead letters in {settings.environment}?", yes, as_json,
                nothing="nothing moved")
    redriver = _redriver(settings)
    console = make_console(stderr=True)
    try:
        total = min(limit, redriver.depth())
        with Progress(console=console, transient=True, disable=as_json) as progress:
            task = progress.add_task("dry run" if dry_run else "redriving", total=total)
            report = redriver.redrive(limit, dry_run=dry_run, progress=lambda _: progress.advance(task))
    except WorkerError as exc:
        raise click.ClickException(str(exc)) from exc
    summary = report.to_dict()
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        verb = "would redrive" if dry_run else "redriven"
        out = make_console()
        out.print(f"{verb}: {summary['redriven']}  refused: {summary['refused']}  errors: {summary['errors']}")
        for d in report.decisions:
            if d.action != "redrive" or dry_run:
                detail = d.reason or f"delay {d.delay_seconds} s, redrive #{d.redrive_count}"
                out.print(f"  {d.message_id}: {d.action} ({detail})")
    if summary["errors"]:
        sys.exit(ExitCode.ERROR)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"
