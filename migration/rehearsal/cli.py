"""`soundbite rehearse`: the whole migration on this machine, with faults, then a report."""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path

import click

from migration.rehearsal.faults import FaultSyntaxError, parse_fault
from soundbite.exit_codes import ExitCode


def _faults(_ctx, _param, values: tuple[str, ...]):
    try:
        return tuple(parse_fault(v) for v in values)
    except FaultSyntaxError as exc:
        raise click.BadParameter(str(exc)) from exc


@click.command()
@click.option("--plan", "plan_name", default="quick", show_default=True,
              help="Built-in plan (quick, default) or a plan file (JSON/YAML).")
@click.option("--fault", "faults", multiple=True, callback=_faults, metavar="SCOPE:KIND[=VALUE][@WEIGHT]",
              help="Inject a fault, e.g. fargate:errors=0.3, fargate:latency=400@25, "
                   "control:metrics=throttle@25, control:metrics=down@25, control:ledger=down@25, "
                   "control:route53=slow@25, operator:rollback@25, engine:crash@50, ec2:alarm@25, "
                   "fargate:crash@25, fargate:worker-crash. Repeatable.")
@click.option("--rate", default=30.0, show_default=True, type=click.FloatRange(1, 500),
              help="Client requests per second through the edge.")
@click.option("--seed", default=7, show_default=True, type=int, help="Seed for the load mix and routing.")
@click.option("--report", "report_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write report.json, events.jsonl, samples.jsonl and timeline.png here.")
@click.option("--log-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path(".soundbite-rehearsal"), show_default=True, help="Process logs.")
@click.option("--drain-timeout", default=60.0, show_default=True, type=click.FloatRange(1, 3600),
              help="Seconds to wait for accepted soundbites to settle after the load stops.")
@click.option("--until", metavar="STEP",
              help="Stop the engine after this step (e.g. shift-25) instead of running the plan out.")
@click.option("--keep-up", is_flag=True,
              help="Afterwards keep lanes, edge and load running (a game day: practise the runbooks "
                   "against it) until Ctrl-C or SIGTERM; writes target.json and rehearsal.env "
                   "into the log directory.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
def rehearse(plan_name, faults, rate, seed, report_dir, log_dir, drain_timeout, until, keep_up,
             as_json) -> None:
    """Rehearse a whole EC2 -> Fargate migration locally: two lanes, an edge, load, the engine.

    Exit code 0 when the run completed and its invariants held (whatever the outcome), 7 when
    an invariant broke, 2 for a bad plan or option, 130 when interrupted.
    """
    from migration.cli import fail
    from migration.exceptions import MigrationError
    from migration.rehearsal.progress import ProgressView
    from migration.rehearsal.runner import RehearsalInterrupted, RehearsalOptions, checked_plan
    from migration.rehearsal.runner import rehearse as run
    from soundbite.console import console as make_console

    console = make_console(stderr=True)
    options = RehearsalOptions(plan=plan_name, faults=faults, rate=rate, seed=seed,
                               drain_timeout=drain_timeout, log_dir=log_dir, report_dir=report_dir,
                               until=until, keep_up=keep_up)
    try:
        checked_plan(options)
    except MigrationError as exc:
        fail(exc, as_json)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    view = ProgressView(console)
    try:
        with view:
            summary = run(options, view.update, stop)
    except RehearsalInterrupted as exc:
        message = f"interrupted: {exc}; lanes, edge, load and engine are stopped"
        if as_json:
            click.echo(json.dumps({"status": "interrupted", "message": message,
                                   "exit_code": int(ExitCode.INTERRUPTED)}))
        else:
            console.print(message)
        sys.exit(ExitCode.INTERRUPTED)
    except (MigrationError, OSError, RuntimeError) as exc:
        raise click.ClickException(f"the rehearsal could not run: {exc}") from exc
    if report_dir:
        console.print(f"report written to {report_dir}/ (chart: timeline.png)")
    if as_json:
        click.echo(json.dumps(summary, indent=2, default=str))
    else:
        view.print_summary(summary)
    sys.exit(ExitCode.OK if summary["ok"] else ExitCode.BROKEN)
