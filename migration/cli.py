"""`soundbite migrate`: thin commands over the engine; exit codes in `soundbite.exit_codes`.

Every command takes the target (`--stack`, `--config`, `--zone-id`, `--record-name`, ...)
and a plan (`--plan default|quick|FILE`); AWS endpoints come from boto3's environment.
"""

from __future__ import annotations

import functools
import json
import sys

import click

from infra.automation import AutomationError, PulumiUnavailableError
from migration.evidence import one_line
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
from migration.preflight import as_dicts, preflight
from migration.router import describe as _weights
from migration.schemas import load_plan
from migration.status import reconcile as reconcile_phase
from migration.status import status as read_status
from migration.target import load_route, load_target
from soundbite import exit_codes
from soundbite.confirm import confirm
from soundbite.console import console
from soundbite.interrupts import sigterm_interrupts

Exit = exit_codes.ExitCode
err = console(stderr=True)
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
ERROR_WORDS = {Exit.HELD: "held", Exit.REFUSED: "refused", Exit.STOOD_DOWN: "stood-down",
               Exit.USAGE: "error", Exit.ERROR: "error"}


def fail(exc: Exception, as_json: bool = False) -> None:
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


NAME_THE_STACK = ("name the stack: --config <target file> (written by `soundbite migrate init`), or "
                  "--stack and --environment; nothing is assumed")


def target_options(func=None, *, needs_target: bool = True, lenient: bool = False):
    """The options every command shares; the command receives the target and the plan.

    A command that reads or moves a stack refuses to guess which one: without a target file it
    needs both --stack and --environment (a production stack judged as `dev` on `local`'s
    names is the mistake this prevents). `lenient` (rollback): a target or plan file with a
    mistake is read for what a rollback needs (`target.load_route`) with a warning, never a
    reason to leave traffic where it is."""
    if func is None:
        return functools.partial(target_options, needs_target=needs_target, lenient=lenient)

    @click.option("--stack", default=None, help="Stack name (required without --config).")
    @click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
                  envvar="SOUNDBITE_MIGRATE_CONFIG", help="JSON/YAML target description.")
    @click.option("--zone-id", default=None, help="Route 53 hosted zone id.")
    @click.option("--record-name", default=None, help="The public weighted record name.")
    @click.option("--environment", default=None,
                  help="SoundBite environment (names, ledger; required without --config).")
    @click.option("--stack-file", default=None, help="Pulumi.<stack>.yaml to read the phase from.")
    @click.option("--pulumi-dir", default=None, help="Directory with Pulumi.yaml (Automation API).")
    @click.option("--plan", "plan_name", default="default", show_default=True,
                  help="Built-in plan (default, quick) or a JSON/YAML plan file.")
    @functools.wraps(func)
    def wrapper(stack, config_file, zone_id, record_name, environment, stack_file, pulumi_dir,
                plan_name, **kwargs):
        try:
            if needs_target and not config_file and not (stack and environment):
                raise ConfigError(NAME_THE_STACK)
            given = dict(stack=stack, zone_id=zone_id, record_name=record_name,
                         environment=environment, stack_file=stack_file, pulumi_dir=pulumi_dir)
            try:
                target = load_target(config_file, **given)
            except ConfigError as exc:
                if not lenient:
                    raise
                target = load_route(config_file, **given)
                err.print(f"[yellow]warning:[/] {one_line(exc)}; rolling back with what a rollback "
                          "needs of it (zone, record, region, stack, environment, EC2 groups)",
                          soft_wrap=True)
            try:
                plan = load_plan(plan_name)
            except PlanError as exc:
                if not lenient:
                    raise
                plan = load_plan("default")
                err.print(f"[yellow]warning:[/] {one_line(exc)}; rolling back with the default "
                          "plan's Route 53 waits", soft_wrap=True)
        except MigrationError as exc:
            fail(exc, kwargs.get("as_json", False))
        return func(target, plan, **kwargs)

    return wrapper


IDENTITY_TIMEOUT_SECONDS = 2
"""The caller's identity is a label on events: never worth a long wait."""


def _operator(target) -> str | None:
    """The caller's STS identity and the local user, for every event; None if STS is unreachable."""
    import boto3
    from botocore.config import Config

    from migration.ledger import default_operator

    quick = Config(connect_timeout=IDENTITY_TIMEOUT_SECONDS, read_timeout=IDENTITY_TIMEOUT_SECONDS,
                   retries={"max_attempts": 1})
    try:
        arn = boto3.client("sts", region_name=target.region, config=quick).get_caller_identity()["Arn"]
    except Exception:  # noqa: BLE001 - the identity is a label; the local user still names who
        return None
    return f"{arn} ({default_operator()})"


def _engine(target, plan, via="route53", quiet=False, view=None):
    """The engine with the plan's hooks on its events and the live view (if any) before them."""
    from migration.factory import build_engine
    from migration.notify import Notifier

    listener = view if (view is not None and not quiet) else (lambda _event: None)
    notifier = Notifier(plan.notify, target.stack, inner=listener, region=target.region)
    context = click.get_current_context(silent=True)
    overrides = ((context.find_root().obj or {}) if context else {}).get("engine_overrides")
    engine = build_engine(target, plan, via=via, on_event=notifier, overrides=overrides)
    engine.ledger.operator = lambda: _operator(target)  # looked up when first written
    if hasattr(engine.router, "on_preview"):
        engine.router.on_preview = lambda phase, changes: notifier(
            {"kind": "preview", "step": phase, "reason": "pulumi preview: " + (
                ", ".join(f"{n} {kind}" for kind, n in sorted(changes.items())) or "no changes")})
    return engine




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
@target_options(needs_target=False)
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
        click.echo(f"  {r['step']:<10} {_weights(r['weights'])}  ttl {r['dns_ttl_wait_seconds']:g} s  "
                   f"lag {r['metric_lag_seconds']:g} s  soak {r['soak_seconds']:g} s  "
                   f"ends +{r['ends_after_seconds'] / 60:.1f} min{gate}")
    click.echo(f"expected duration: {plan.expected_seconds(from_percent) / 60:.1f} min")


@migrate.command()
@click.option("--stack", required=True, help="The Pulumi stack to migrate (e.g. prod).")
@click.option("--outputs", "outputs_file", type=click.Path(dir_okay=False), default=None,
              help="`pulumi stack output --json` saved to a file.")
@click.option("--pulumi-dir", default=None, help="Or read the outputs through the Automation API.")
@click.option("--stack-file", default=None, type=click.Path(dir_okay=False),
              help="Or find them in AWS from the stack's Pulumi.<stack>.yaml (no Pulumi login needed).")
@click.option("--region", default=None, help="AWS region (default: the environment's).")
@click.option("--out", "out_file", default="target.json", show_default=True, help="Target file to write.")
@click.option("--force", is_flag=True, help="Replace an existing target file.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def init(stack, outputs_file, pulumi_dir, stack_file, region, out_file, force, as_json):
    """Write a validated target file from the stack's outputs (never by hand)."""
    from pathlib import Path

    import boto3

    from migration.init import (
        outputs_from_file,
        outputs_from_stack,
        target_from_outputs,
        write_target,
    )
    from migration.stack_lookup import outputs_from_stack_file

    try:
        if sum(map(bool, (outputs_file, pulumi_dir, stack_file))) != 1:
            raise ConfigError("pass one of --outputs FILE (`pulumi stack output --json > FILE`), "
                              "--pulumi-dir DIR, or --stack-file Pulumi.<stack>.yaml")
        if stack_file and Path(stack_file).name != f"Pulumi.{stack}.yaml":
            raise ConfigError(f"--stack-file {Path(stack_file).name} is not Pulumi.{stack}.yaml: the "
                              "ledger's record and the program's guard go by the stack's name")
        if stack_file and not region:
            from migration.capacity import read_program_config

            region = read_program_config(stack_file).region  # the stack's own aws:region
        region = region or boto3.session.Session().region_name
        if stack_file:
            outputs = outputs_from_stack_file(stack_file, boto3.session.Session(region_name=region))
        else:
            outputs = outputs_from_file(outputs_file) if outputs_file else outputs_from_stack(stack, pulumi_dir)
        data = target_from_outputs(outputs, stack, region, pulumi_dir, stack_file)
        path = write_target(data, out_file, force)
    except Exception as exc:  # noqa: BLE001 - every failure is one line and an exit code
        fail(exc, as_json)
    if as_json:
        click.echo(json.dumps({"written": str(path), "target": data}, indent=2))
    else:
        click.echo(f"wrote {path} for stack {stack} ({data['environment']}, {data.get('region') or 'no region'}, "
                   "metrics alb)")
        click.echo(f"next: soundbite migrate doctor --config {path}")


@migrate.command()
@target_options
@click.option("--policy", type=click.Path(dir_okay=False), default=None,
              help="Operator policy to simulate (default: the one in runbooks/).")
@click.option("--principal", default=None, help="IAM role or user ARN to check (default: the caller).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def doctor(target, plan, policy, principal, as_json):
    """Region, identity, every named resource, and the operator's permissions; exit 5 if any
    fails, or if identity or permissions could not be checked."""
    from pathlib import Path

    import boto3

    from migration.doctor import OPERATOR_POLICY, Doctor, as_dicts, passed

    try:
        session = boto3.session.Session(region_name=target.region)
        findings = Doctor(target, session, Path(policy) if policy else OPERATOR_POLICY, principal).run()
    except Exception as exc:  # noqa: BLE001 - every failure is one line and an exit code
        fail(exc, as_json)
    ok = passed(findings)
    if as_json:
        click.echo(json.dumps({"ok": ok, "checks": as_dicts(findings)}, indent=2))
    else:
        for f in findings:
            click.echo(f"{f.word:<11} {f.name:<12} {f.detail}")
    sys.exit(int(Exit.OK if ok else Exit.REFUSED))


@migrate.command("preflight")
@target_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def preflight_cmd(target, plan, as_json):
    """Check both stacks, alarms, capacity, weights and the lock; exit 5 if any check fails."""
    try:
        checks = preflight(_engine(target, plan, quiet=True))
    except Exception as exc:  # noqa: BLE001 - every failure is one line and an exit code
        fail(exc, as_json)
    if as_json:
        click.echo(json.dumps({"ok": all(c.ok for c in checks), "checks": as_dicts(checks)}, indent=2))
    else:
        for c in checks:
            click.echo(f"{'pass' if c.ok else 'FAIL'}  {c.name:<14} {c.detail}")
    sys.exit(int(Exit.OK if all(c.ok for c in checks) else Exit.REFUSED))


def _refuse_unless_preflight(engine, to_percent: int | None = None) -> None:
    failed = [c for c in preflight(engine, to_percent) if not c.ok]
    if failed:
        for c in failed:
            err.print(f"[red]preflight FAIL[/] {c.name}: {c.detail}")
        err.print("[bold red]refused:[/] preflight failed")
        sys.exit(int(Exit.REFUSED))


def _move(target, plan, via, as_json, dry_run, action, yes=True, question="", to_percent=None):
    from migration.live import LiveView

    view = LiveView(err, mode="json" if as_json else "auto")
    try:
        engine = _engine(target, plan, via=via, view=view)
        if not dry_run:
            _refuse_unless_preflight(engine, to_percent)
            preview = action(Executor(engine), True)
            for line in preview.actions:
                err.print(f"  would: {line}", soft_wrap=True, highlight=False)
            if via == "pulumi":
                for line in pulumi_preview_lines(engine, to_percent):
                    err.print(f"  would: {line}", soft_wrap=True, highlight=False)
            confirm(question, yes, as_json)
        with view, sigterm_interrupts():
            result = action(Executor(engine), dry_run)
    except KeyboardInterrupt:
        _interrupted(as_json)
    except Exception as exc:  # noqa: BLE001 - every failure is one line and an exit code
        fail(exc, as_json)
    _finish(result, as_json)


def _resume_preview(engine) -> list[str]:
    """The preview of the move `resume` would make next; none while a shift is still to be
    settled (resume looks at Route 53 first, and says what it found)."""
    try:
        return pulumi_preview_lines(engine)
    except Exception as exc:  # noqa: BLE001 - resume takes over whatever the preview met
        return [f"pulumi up: decided after resume settles what it finds ({one_line(exc)})"]


def pulumi_preview_lines(engine, to_percent: int | None = None) -> list[str]:
    """What `pulumi up` would change for the next move, previewed before anyone confirms it
    (the stack's config is left as it was); later steps of a `run` show theirs as they go."""
    weights = Executor(engine).next_move(to_percent)
    if weights is None or not hasattr(engine.router, "preview_move"):
        return ["pulumi up: not needed for the next step (it moves no traffic)"]
    phase, changes = engine.router.preview_move(weights)
    summary = ", ".join(f"{n} to {kind}" for kind, n in sorted(changes.items()) if n) or "no changes"
    return [f"pulumi preview of phase {phase} ({_weights(weights)}): {summary}"]


def _interrupted(as_json: bool) -> None:
    message = ("interrupted: a step that had traffic on Fargate is held with the reason "
               "'interrupted' (`soundbite migrate status` shows where traffic stands); "
               "`soundbite migrate resume` judges on, `soundbite migrate rollback` moves it back")
    if as_json:
        click.echo(json.dumps({"status": "interrupted", "message": message,
                               "exit_code": int(Exit.INTERRUPTED)}))
    else:
        err.print(f"[bold yellow]{message}[/]", soft_wrap=True)
    sys.exit(int(Exit.INTERRUPTED))


VIA = click.option("--via", type=click.Choice(["route53", "pulumi"]), default="route53",
                   show_default=True, help="Change Route 53 directly, or set the phase and pulumi up.")
DRY = click.option("--dry-run", is_flag=True, help="Print what would happen; change nothing.")
JSON = click.option("--json", "as_json", is_flag=True,
                    help="Print the result as JSON (and each event as a JSON line on stderr).")
YES = click.option("--yes", is_flag=True, help="Do not ask for confirmation.")


@migrate.command()
@target_options
@VIA
@DRY
@JSON
@YES
def advance(target, plan, via, dry_run, as_json, yes):
    """Apply the next step of the plan and soak it; ends promoted, held or rolled back."""
    _move(target, plan, via, as_json, dry_run, lambda ex, dry: ex.advance(dry_run=dry), yes,
          f"Take the next step of {target.stack}'s migration?")


@migrate.command()
@target_options
@click.option("--to", "to_percent", type=click.IntRange(1, 100), required=True,
              help="Percent of traffic to Fargate.")
@VIA
@DRY
@JSON
@YES
def shift(target, plan, to_percent, via, dry_run, as_json, yes):
    """Shift straight to N percent on Fargate, then soak and judge it."""
    _move(target, plan, via, as_json, dry_run, lambda ex, dry: ex.advance(to_percent, dry_run=dry),
          yes, f"Send {to_percent}% of {target.stack} traffic to Fargate?", to_percent=to_percent)


@migrate.command()
@target_options
@VIA
@DRY
@JSON
@YES
def run(target, plan, via, dry_run, as_json, yes):
    """Advance through every remaining step unattended, stopping at approval gates."""
    _move(target, plan, via, as_json, dry_run, lambda ex, dry: ex.run(dry_run=dry), yes,
          f"Run {target.stack}'s remaining migration steps unattended?")


@migrate.command()
@target_options
@click.option("--step", default=None, help="Step to approve (default: the next gated one).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def approve(target, plan, step, as_json):
    """Open an approval gate so `run` or `advance` may take that step."""
    try:
        name = Executor(_engine(target, plan, quiet=True)).approve(step)
    except Exception as exc:  # noqa: BLE001 - every failure is one line and an exit code
        fail(exc, as_json)
    click.echo(json.dumps({"approved": name}) if as_json else f"approved {name}")


@migrate.command()
@target_options(lenient=True)
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
    if not dry_run:
        confirm(f"Send all {target.stack} traffic back to EC2?", yes, as_json)
    try:
        result = Executor(_engine(target, plan, quiet=as_json)).rollback(
            reason, dry_run=dry_run, wait_capacity=wait_capacity)
    except Exception as exc:  # noqa: BLE001 - every failure is one line and an exit code
        fail(exc, as_json)
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
    confirm(f"Clear the abort of {target.stack}'s migration?", yes, as_json)
    try:
        data = Executor(_engine(target, plan, quiet=True)).retry()
    except Exception as exc:  # noqa: BLE001 - every failure is one line and an exit code
        fail(exc, as_json)
    click.echo(json.dumps(data, indent=2, default=str) if as_json else data["reason"])


@migrate.command()
@target_options
@VIA
@JSON
@YES
def resume(target, plan, via, as_json, yes):
    """After a crash: settle an interrupted shift, re-read alarms, then judge, continue, hold or roll back."""
    from migration.live import LiveView

    view = LiveView(err, mode="json" if as_json else "auto")
    try:
        engine = _engine(target, plan, via=via, view=view)
        if via == "pulumi":
            for line in _resume_preview(engine):
                err.print(f"  would: {line}", soft_wrap=True, highlight=False)
        confirm(f"Take over {target.stack}'s interrupted migration (it may move traffic)?", yes, as_json)
        with view, sigterm_interrupts():
            result = Executor(engine).resume()
    except KeyboardInterrupt:
        _interrupted(as_json)
    except Exception as exc:  # noqa: BLE001 - every failure is one line and an exit code
        fail(exc, as_json)
    _finish(result, as_json)


def _status_lines(data: dict) -> list[str]:
    """`status` for a person: words and numbers, no Python reprs."""
    unreadable = data.get("unreadable") or {}
    live = (f"UNREADABLE ({unreadable['route53']})" if "route53" in unreadable
            else _weights(data["live_weights"]) if data["live_weights"] else "no weighted records")
    lines = [f"stack {data['stack']}: live {live} ({data['live_phase'] or 'no phase of the table'})"]
    drift = {True: "DRIFT: ", False: "", None: ""}[data["drift"]]
    lines.append(f"config: {drift}{data['detail']}")
    if data.get("ledger_drift"):
        lines.append(f"ledger: DRIFT: this tool last set {_weights(data['ledger_weights'])}, "
                     f"Route 53 shows {live}")
    lock = data["lock"]
    holder = ("UNREADABLE" if "lock" in unreadable
              else f"{lock['owner']} ({lock.get('operator') or 'unknown'})" if lock else "free")
    run = "UNREADABLE" if "ledger" in unreadable else data["run_status"] or "none"
    lines.append(f"run: {run}; lock: {holder}")
    if data.get("abort"):
        abort = data["abort"]
        lines.append(f"ABORTED by {abort.get('by')} at {_when(abort.get('at'))}: {abort.get('reason')}; "
                     "`soundbite migrate retry` clears it")
    if data.get("pending"):
        lines.append(f"INTERRUPTED while shifting {data['pending'].get('step')}: run `soundbite migrate resume`")
    for name, outcome in (data.get("steps") or {}).items():
        lines.append(f"  step {name}: {outcome.get('outcome')} at {_when(outcome.get('at'))} "
                     f"({outcome.get('reason') or ''})")
    alarms = "UNREADABLE" if "alarms" in unreadable else ", ".join(data["alarms_firing"]) or "none"
    lines.append(f"alarms in ALARM: {alarms}")
    for lane, problems in data["health"].items():
        shown = ("UNREADABLE" if f"{lane} health" in unreadable else
                 "not configured" if problems is None else "; ".join(problems) or "healthy")
        lines.append(f"{lane}: {shown}")
    for event in data["recent"]:
        lines.append("  " + _event_line(event))
    lines += [f"UNREADABLE {section}: {cause}" for section, cause in unreadable.items()
              if section != "route53"]
    return lines


def _event_line(event: dict) -> str:
    reason = event.get("reason") or (event.get("verdict") or {}).get("reason") or ""
    if not reason and isinstance(event.get("after"), dict):
        reason = f"-> {_weights(event['after'])}"
    who = event.get("operator") or event.get("runId") or ""
    return f"{_when(event.get('at'))}  {event['kind']:<12} {event.get('step') or '':<10} {reason}  [{who}]"


@migrate.command("status")
@target_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one object per poll with --watch).")
@click.option("--watch", is_flag=True, help="Poll until interrupted.")
@click.option("--interval", type=click.FloatRange(min=0.1), default=5.0, show_default=True,
              help="Seconds between polls with --watch.")
@click.option("--count", type=click.IntRange(min=1), default=None, help="Stop after N polls.")
def status_cmd(target, plan, as_json, watch, interval, count):
    """Phase in config, live weights, drift, health, the lock holder and the last decisions."""
    import time

    polls = 0
    try:
        engine = _engine(target, plan, quiet=True)
        while True:
            data = read_status(engine)
            polls += 1
            if as_json:
                click.echo(json.dumps(data, indent=None if watch else 2, default=str))
            else:
                if watch:
                    click.echo(f"--- {_when(time.time())}")
                click.echo("\n".join(_status_lines(data)))
            if not watch or (count is not None and polls >= count):
                break
            time.sleep(interval)
    except KeyboardInterrupt:
        return
    except Exception as exc:  # noqa: BLE001 - every failure is one line and an exit code
        fail(exc, as_json)
    if data["unreadable"]:  # shown above, section by section; the exit code says it too
        if not as_json:
            err.print(f"[bold red]{ERROR_WORDS[Exit.ERROR]}:[/] read in part: "
                      f"{', '.join(data['unreadable'])} unreadable", soft_wrap=True)
        sys.exit(Exit.ERROR)


@migrate.command()
@target_options
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def history(target, plan, limit, as_json):
    """Every recorded event, oldest first, with its time and who acted (STS identity)."""
    try:
        events = _engine(target, plan, quiet=True).ledger.events(limit)
    except Exception as exc:  # noqa: BLE001 - every failure is one line and an exit code
        fail(exc, as_json)
    if as_json:
        click.echo(json.dumps([{**e, "time": _when(e.get("at"))} for e in events], indent=2, default=str))
        return
    for event in events:
        click.echo(_event_line(event))


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
        if not dry_run:
            confirm("Change the stack's migration phase to match Route 53?", yes, as_json)
        data = reconcile_phase(engine, dry_run=dry_run)
    except Exception as exc:  # noqa: BLE001 - every failure is one line and an exit code
        fail(exc, as_json)
    click.echo(json.dumps(data, indent=2) if as_json else data["detail"])
