"""`soundbite migrate`: thin commands over the engine; exit codes in `soundbite.exit_codes`.

Every command takes the target (`--stack`, `--config`, `--zone-id`, `--record-name`, ...)
and a plan (`--plan default|quick|FILE`); AWS endpoints come from boto3's environment.
"""

from __future__ import annotations

import functools
import json
import sys

import click
from rich.console import Console

from infra.automation import AutomationError, PulumiUnavailableError
from migration.exceptions import (
    AbortedError,
    ApprovalRequiredError,
    ConfigError,
    DriftError,
    LockHeldError,
    MigrationError,
    PlanError,
    StoodDownError,
)
from migration.executor import Executor, Status, StepResult
from migration.plan import load_plan
from migration.preflight import as_dicts, preflight
from migration.status import reconcile as reconcile_phase
from migration.status import status as read_status
from migration.target import load_target
from soundbite import exit_codes

Exit = exit_codes.ExitCode
err = Console(stderr=True, highlight=False)
STATUS_EXIT = {
    Status.PROMOTED: Exit.OK, Status.COMPLETE: Exit.OK, Status.DRY_RUN: Exit.OK,
    Status.HELD: Exit.HELD, Status.AWAITING_APPROVAL: Exit.HELD, Status.ROLLED_BACK: Exit.ROLLED_BACK,
}
ERROR_EXIT = [
    (ApprovalRequiredError, Exit.HELD), (LockHeldError, Exit.REFUSED), (DriftError, Exit.REFUSED),
    (AbortedError, Exit.REFUSED), (StoodDownError, Exit.STOOD_DOWN),
    (PlanError, Exit.USAGE), (ConfigError, Exit.USAGE), (MigrationError, Exit.ERROR),
    (AutomationError, Exit.ERROR),
]
ERROR_WORDS = {Exit.HELD: "held", Exit.REFUSED: "refused", Exit.STOOD_DOWN: "stood down",
               Exit.USAGE: "error", Exit.ERROR: "error"}


def _fail(exc: Exception, as_json: bool = False) -> None:
    """One line (or one JSON object) and the documented exit code; never a traceback."""
    context = click.get_current_context(silent=True)
    if context is not None and (context.find_root().obj or {}).get("debug"):
        raise exc
    code = next((code for kind, code in ERROR_EXIT if isinstance(exc, kind)), Exit.ERROR)
    message = " ".join(str(exc).split()) or type(exc).__name__
    if as_json:
        click.echo(json.dumps({"status": "error", "error": ERROR_WORDS[code], "message": message,
                               "exit_code": int(code)}))
    else:
        err.print(f"[bold red]{ERROR_WORDS[code]}:[/] {message}", soft_wrap=True)
    sys.exit(int(code))


def target_options(func):
    """The options every command shares; the command receives `ctx_obj` with target and plan."""

    @click.option("--stack", default=None, help="Stack name (default: dev).")
    @click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
                  envvar="SOUNDBITE_MIGRATE_CONFIG", help="JSON/YAML target description.")
    @click.option("--zone-id", default=None, help="Route 53 hosted zone id.")
    @click.option("--record-name", default=None, help="The public weighted record name.")
    @click.option("--environment", default=None, help="SoundBite environment (names, ledger).")
    @click.option("--stack-file", default=None, help="Pulumi.<stack>.yaml to read the phase from.")
    @click.option("--pulumi-dir", default=None, help="Directory with Pulumi.yaml (Automation API).")
    @click.option("--plan", "plan_name", default="default", show_default=True,
                  help="Built-in plan (default, quick) or a JSON/YAML plan file.")
    @functools.wraps(func)
    def wrapper(stack, config_file, zone_id, record_name, environment, stack_file, pulumi_dir,
                plan_name, **kwargs):
        try:
            target = load_target(config_file, stack=stack, zone_id=zone_id, record_name=record_name,
                                 environment=environment, stack_file=stack_file, pulumi_dir=pulumi_dir)
            plan = load_plan(plan_name)
        except MigrationError as exc:
            _fail(exc, kwargs.get("as_json", False))
        return func(target, plan, **kwargs)

    return wrapper


def _engine(target, plan, via="route53", quiet=False):
    from migration.factory import build_engine

    colours = {"pass": "green", "fail": "red", "inconclusive": "yellow", "rollback": "bold red",
               "held": "yellow", "shift": "cyan"}

    def show(event: dict) -> None:
        if quiet:
            return
        label = event.get("outcome") or event["kind"]
        detail = event.get("reason") or event.get("weights") or ""
        err.print(f"[{colours.get(label, 'dim')}]{label:>12}[/] {event.get('step') or ''} {detail}")

    return build_engine(target, plan, via=via, on_event=show)


def _weights(weights: dict) -> str:
    return " / ".join(f"{lane} {weight}" for lane, weight in weights.items())


def _finish(result: StepResult, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        colour = {Exit.OK: "green", Exit.HELD: "yellow"}.get(STATUS_EXIT[result.status], "red")
        click.echo(f"{result.status.value}: {result.reason}" if result.step is None
                   else f"{result.step}: {result.status.value}: {result.reason}")
        for action in result.actions:
            click.echo(f"  - {action}")
        for warning in result.warnings:
            err.print(f"[yellow]warning:[/] {warning}", soft_wrap=True)
        err.print(f"[{colour}]weights now {_weights(result.weights)}[/]")
    sys.exit(int(STATUS_EXIT[result.status]))


def _when(at) -> str:
    import datetime as dt

    if not isinstance(at, int | float):
        return "unknown time"
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@click.group()
def migrate() -> None:
    """Move traffic between the EC2 and Fargate stacks in judged, reversible steps.

    Exit codes: 0 success, 1 error, 2 usage, 3 rolled back, 4 held, 5 refused, 6 stood down.
    """


@migrate.command("plan")
@target_options
@click.option("--from-percent", default=0, show_default=True, help="Start from this Fargate share.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def plan_cmd(target, plan, from_percent, as_json):
    """Print the whole timeline (steps, soaks, DNS and metric-lag waits); touches nothing."""
    rows = plan.timeline(from_percent)
    if as_json:
        click.echo(json.dumps({"plan": plan.to_dict(), "timeline": rows,
                               "expected_seconds": plan.expected_seconds(from_percent)}, indent=2))
        return
    click.echo(f"plan {plan.name}: judge every {plan.analysis_interval_seconds:g} s, "
               f"roll back after {plan.failure_limit} failed checks")
    for r in rows:
        gate = "  [approval]" if r["approval"] else ""
        click.echo(f"  {r['step']:<10} {r['weights']}  ttl {r['dns_ttl_wait_seconds']:g} s  "
                   f"lag {r['metric_lag_seconds']:g} s  soak {r['soak_seconds']:g} s  "
                   f"ends +{r['ends_after_seconds'] / 60:.1f} min{gate}")
    click.echo(f"expected duration: {plan.expected_seconds(from_percent) / 60:.1f} min")


@migrate.command("preflight")
@target_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def preflight_cmd(target, plan, as_json):
    """Check both stacks, alarms, capacity, weights and the lock; exit 5 if any check fails."""
    try:
        checks = preflight(_engine(target, plan, quiet=True))
    except Exception as exc:  # noqa: BLE001 - every failure is one line and an exit code
        _fail(exc, as_json)
    if as_json:
        click.echo(json.dumps({"ok": all(c.ok for c in checks), "checks": as_dicts(checks)}, indent=2))
    else:
        for c in checks:
            click.echo(f"{'pass' if c.ok else 'FAIL'}  {c.name:<14} {c.detail}")
    sys.exit(int(Exit.OK if all(c.ok for c in checks) else Exit.REFUSED))


def _refuse_unless_preflight(engine) -> None:
    failed = [c for c in preflight(engine) if not c.ok]
    if failed:
        for c in failed:
            err.print(f"[red]preflight FAIL[/] {c.name}: {c.detail}")
        err.print("[bold red]refused:[/] preflight failed")
        sys.exit(int(Exit.REFUSED))


def _move(target, plan, via, as_json, dry_run, action):
    try:
        engine = _engine(target, plan, via=via, quiet=as_json)
        if not dry_run:
            _refuse_unless_preflight(engine)
        result = action(Executor(engine))
    except Exception as exc:  # noqa: BLE001 - every failure is one line and an exit code
        _fail(exc, as_json)
    _finish(result, as_json)


VIA = click.option("--via", type=click.Choice(["route53", "pulumi"]), default="route53",
                   show_default=True, help="Change Route 53 directly, or set the phase and pulumi up.")
DRY = click.option("--dry-run", is_flag=True, help="Print what would happen; change nothing.")
JSON = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


@migrate.command()
@target_options
@VIA
@DRY
@JSON
def advance(target, plan, via, dry_run, as_json):
    """Apply the next step of the plan and soak it; ends promoted, held or rolled back."""
    _move(target, plan, via, as_json, dry_run, lambda ex: ex.advance(dry_run=dry_run))


@migrate.command()
@target_options
@click.option("--to", "to_percent", type=click.IntRange(1, 100), required=True,
              help="Percent of traffic to Fargate.")
@VIA
@DRY
@JSON
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def shift(target, plan, to_percent, via, dry_run, as_json, yes):
    """Shift straight to N percent on Fargate, then soak and judge it."""
    if not (dry_run or yes):
        click.confirm(f"Send {to_percent}% of {target.stack} traffic to Fargate?", abort=True)
    _move(target, plan, via, as_json, dry_run, lambda ex: ex.advance(to_percent, dry_run=dry_run))


@migrate.command()
@target_options
@VIA
@DRY
@JSON
def run(target, plan, via, dry_run, as_json):
    """Advance through every remaining step unattended, stopping at approval gates."""
    _move(target, plan, via, as_json, dry_run, lambda ex: ex.run(dry_run=dry_run))


@migrate.command()
@target_options
@click.option("--step", default=None, help="Step to approve (default: the next gated one).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def approve(target, plan, step, as_json):
    """Open an approval gate so `run` or `advance` may take that step."""
    try:
        name = Executor(_engine(target, plan, quiet=True)).approve(step)
    except Exception as exc:  # noqa: BLE001 - every failure is one line and an exit code
        _fail(exc, as_json)
    click.echo(json.dumps({"approved": name}) if as_json else f"approved {name}")


@migrate.command()
@target_options
@click.option("--reason", default="requested by operator", show_default=True)
@click.option("--wait-capacity", is_flag=True,
              help="Then wait until the EC2 group has its configured InService count.")
@DRY
@JSON
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def rollback(target, plan, reason, wait_capacity, dry_run, as_json, yes):
    """All traffic back to EC2 through Route 53 first; needs nothing else; safe to run twice.

    Then records the migration aborted (advance, run, shift and resume refuse until
    `retry`) and raises EC2 capacity: each of those is best effort, a warning if it fails."""
    if not (dry_run or yes):
        click.confirm(f"Send all {target.stack} traffic back to EC2?", abort=True)
    try:
        result = Executor(_engine(target, plan, quiet=as_json)).rollback(
            reason, dry_run=dry_run, wait_capacity=wait_capacity)
    except Exception as exc:  # noqa: BLE001 - every failure is one line and an exit code
        _fail(exc, as_json)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, default=str))
    elif dry_run:
        click.echo("\n".join(["dry run, would:"] + [f"  - {a}" for a in result.actions]))
    else:
        click.echo(f"rolled back: weights now {_weights(result.weights)}")
        for action in result.actions:
            click.echo(f"  - {action}")
        for warning in result.warnings:
            err.print(f"[yellow]warning:[/] {warning}", soft_wrap=True)
    sys.exit(int(Exit.OK))


@migrate.command()
@target_options
@JSON
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def retry(target, plan, as_json, yes):
    """Clear an abort so the migration may start again (from validate)."""
    if not yes:
        click.confirm(f"Clear the abort of {target.stack}'s migration?", abort=True)
    try:
        data = Executor(_engine(target, plan, quiet=True)).retry()
    except Exception as exc:  # noqa: BLE001 - every failure is one line and an exit code
        _fail(exc, as_json)
    click.echo(json.dumps(data, indent=2, default=str) if as_json else data["reason"])


@migrate.command()
@target_options
@VIA
@JSON
def resume(target, plan, via, as_json):
    """After a crash: re-read live weights, alarms and capacity, then continue, hold or roll back."""
    try:
        result = Executor(_engine(target, plan, via=via, quiet=as_json)).resume()
    except Exception as exc:  # noqa: BLE001 - every failure is one line and an exit code
        _fail(exc, as_json)
    _finish(result, as_json)


@migrate.command("status")
@target_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status_cmd(target, plan, as_json):
    """Phase in config, live weights, drift, health, the lock holder and the last decisions."""
    try:
        data = read_status(_engine(target, plan, quiet=True))
    except Exception as exc:  # noqa: BLE001 - every failure is one line and an exit code
        _fail(exc, as_json)
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
        return
    click.echo(f"stack {data['stack']}: live {data['live_weights']} ({data['live_phase']})")
    drift = {True: "DRIFT: ", False: "", None: ""}[data["drift"]]
    click.echo(f"config: {drift}{data['detail']}")
    click.echo(f"run: {data['run_status'] or 'none'}; lock: "
               f"{data['lock']['owner'] if data['lock'] else 'free'}")
    if data.get("abort"):
        abort = data["abort"]
        click.echo(f"ABORTED by {abort.get('by')} at {_when(abort.get('at'))}: {abort.get('reason')}; "
                   "`soundbite migrate retry` clears it")
    for name, outcome in (data.get("steps") or {}).items():
        click.echo(f"  step {name}: {outcome.get('outcome')} ({outcome.get('reason') or ''})")
    click.echo(f"alarms in ALARM: {', '.join(data['alarms_firing']) or 'none'}")
    for lane, problems in data["health"].items():
        shown = "not configured" if problems is None else "; ".join(problems) or "healthy"
        click.echo(f"{lane}: {shown}")
    for event in data["recent"]:
        reason = event.get("reason") or (event.get("verdict") or {}).get("reason") or ""
        click.echo(f"  {event['kind']:<10} {event.get('step') or ''} {reason}")


@migrate.command()
@target_options
@DRY
@JSON
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def reconcile(target, plan, dry_run, as_json, yes):
    """Make soundbite:migrationPhase agree with live weights (or print the command to)."""
    try:
        try:
            engine = _engine(target, plan, via="pulumi" if target.pulumi_dir else "route53", quiet=True)
        except PulumiUnavailableError as exc:
            err.print(f"[yellow]{exc}[/]")
            engine = _engine(target, plan, quiet=True)  # reads Pulumi.<stack>.yaml, prints the command
        if not (dry_run or yes):
            click.confirm("Change the stack's migration phase to match Route 53?", abort=True)
        data = reconcile_phase(engine, dry_run=dry_run)
    except Exception as exc:  # noqa: BLE001 - every failure is one line and an exit code
        _fail(exc, as_json)
    click.echo(json.dumps(data, indent=2) if as_json else data["detail"])
