"""`soundbite migrate` through click's runner: exit codes, --json, --dry-run, refusals."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from migration.cli import migrate
from migration.edge_metrics import target_fields as edge_target_fields
from migration.ledger import Ledger
from migration.router import Route53WeightedRouter
from soundbite.exit_codes import ExitCode

from .conftest import EC2, FARGATE

FAST_PLAN = {"name": "fast", "steps": [50, 100], "soak_seconds": 0.1, "ttl_wait_seconds": 0,
             "metric_lag_seconds": 0, "analysis_interval_seconds": 0.05,
             "max_soak_extension_seconds": 0.2}


@pytest.fixture
def cli(tmp_path, zone, fresh_data_plane, boto_session):
    zone_id, record = zone
    config = tmp_path / "target.json"
    config.write_text(json.dumps({"stack": "dev", "zone_id": zone_id, "record_name": record,
                                  "environment": fresh_data_plane.environment,
                                  **edge_target_fields(fresh_data_plane.environment)}))
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(FAST_PLAN))
    router = Route53WeightedRouter(zone_id, record, client=boto_session.client("route53"))

    def invoke(*args, input=None):
        return CliRunner().invoke(migrate, [args[0], "--config", str(config), "--plan", str(plan),
                                            *args[1:]], input=input)

    invoke.router = router
    invoke.ledger = Ledger(fresh_data_plane.ledger_table, "dev", client=boto_session.client("dynamodb"))
    invoke.tmp = tmp_path
    return invoke


def fire_alarm(cloudwatch, environment):
    name = f"soundbite-{environment}-api-5xx"
    cloudwatch.put_metric_alarm(AlarmName=name, MetricName="m", Namespace="X", Statistic="Sum",
                                Period=60, EvaluationPeriods=1, Threshold=1,
                                ComparisonOperator="GreaterThanOrEqualToThreshold")
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="test")
    return name


def test_plan_json_touches_nothing(cli):
    result = cli("plan", "--json")
    assert result.exit_code == ExitCode.OK
    data = json.loads(result.output)
    assert [r["step"] for r in data["timeline"]] == ["shift-50", "shift-100"]
    assert cli.ledger.events() == []


def test_missing_records_is_a_usage_error():
    result = CliRunner().invoke(migrate, ["advance", "--stack", "dev", "--environment", "dev"],
                                env={"AWS_DEFAULT_REGION": "eu-west-1"})
    assert result.exit_code == ExitCode.USAGE
    assert "pass --zone-id and --record-name" in result.output


@pytest.mark.parametrize("args", [["status"], ["rollback", "--yes"], ["advance", "--yes"],
                                  ["status", "--stack", "prod"], ["rollback", "--environment", "prod"]])
def test_a_command_that_reads_or_moves_a_stack_never_guesses_which(args):
    """No dev/local default: without a target file, both --stack and --environment, or exit 2."""
    result = CliRunner().invoke(migrate, args)
    assert result.exit_code == ExitCode.USAGE, result.output
    assert "name the stack: --config <target file>" in result.output
    assert CliRunner().invoke(migrate, ["plan"]).exit_code == ExitCode.OK, "plan needs no stack"


def test_unknown_plan_is_a_usage_error(cli):
    result = CliRunner().invoke(migrate, ["plan", "--plan", "nope"])
    assert result.exit_code == ExitCode.USAGE and "no built-in plan" in result.output


def test_advance_dry_run_changes_nothing(cli):
    result = cli("advance", "--dry-run", "--json")
    assert result.exit_code == ExitCode.OK
    assert json.loads(result.output)["status"] == "dry-run"
    assert cli.router.current() == {EC2: 100, FARGATE: 0}
    assert cli.ledger.events() == []


def test_advance_without_traffic_holds_with_exit_4(cli):
    result = cli("advance", "--json", "--yes")
    assert result.exit_code == ExitCode.HELD, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "held" and "more canary requests" in data["reason"]
    assert cli.router.current() == {EC2: 50, FARGATE: 50}


def test_firing_alarm_refuses_advance_with_exit_5(cli, cloudwatch, fresh_data_plane):
    fire_alarm(cloudwatch, fresh_data_plane.environment)
    result = cli("advance")
    assert result.exit_code == ExitCode.REFUSED
    assert "preflight" in result.output
    assert cli.router.current() == {EC2: 100, FARGATE: 0}


def test_resume_with_firing_alarm_rolls_back_with_exit_3(cli, cloudwatch, fresh_data_plane):
    cli.router.set_weights({EC2: 50, FARGATE: 50})
    fire_alarm(cloudwatch, fresh_data_plane.environment)
    result = cli("resume", "--json", "--yes")
    assert result.exit_code == ExitCode.ROLLED_BACK
    assert cli.router.current() == {EC2: 100, FARGATE: 0}


def test_lock_held_refuses_with_exit_5(cli):
    Ledger(cli.ledger.table, "dev", client=cli.ledger.client, owner="other").acquire()
    result = cli("shift", "--to", "50", "--yes")
    assert result.exit_code == ExitCode.REFUSED and "lock" in result.output


@pytest.mark.parametrize("command", [("shift", "--to", "50"), ("advance",), ("run",), ("resume",)])
def test_every_command_that_moves_traffic_confirms_unless_yes(cli, command, monkeypatch):
    monkeypatch.setattr("soundbite.confirm.interactive", lambda: True)
    result = cli(*command, input="n\n")
    assert result.exit_code == ExitCode.REFUSED, result.output
    assert "not confirmed; nothing changed" in result.output
    assert cli.router.current() == {EC2: 100, FARGATE: 0}
    assert [e["kind"] for e in cli.ledger.events()] == []


@pytest.mark.parametrize("command", [("shift", "--to", "50"), ("run",), ("rollback",), ("retry",)])
def test_without_a_terminal_a_command_that_moves_traffic_refuses_unless_yes(cli, command):
    """Nothing to ask on (a pipe, cron): exit 5 and one line saying to pass --yes, or JSON."""
    result = cli(*command)
    assert result.exit_code == ExitCode.REFUSED, result.output
    assert "no terminal to confirm on; pass --yes" in result.output
    assert cli.router.current() == {EC2: 100, FARGATE: 0}
    as_json = cli(*command, "--json")
    assert as_json.exit_code == ExitCode.REFUSED
    assert json.loads(as_json.stdout.splitlines()[-1])["error"] == "refused"


def test_ctrl_c_at_the_prompt_exits_130_and_changes_nothing(cli, monkeypatch):
    import click

    monkeypatch.setattr("soundbite.confirm.interactive", lambda: True)

    def interrupted(*_args, **_kwargs):
        raise click.Abort

    monkeypatch.setattr("click.confirm", interrupted)
    result = cli("shift", "--to", "50")
    assert result.exit_code == ExitCode.INTERRUPTED
    assert cli.router.current() == {EC2: 100, FARGATE: 0}


def test_rollback_twice_is_harmless(cli):
    cli.router.set_weights({EC2: 50, FARGATE: 50})
    assert cli("rollback", "--yes", "--reason", "drill").exit_code == ExitCode.OK
    second = cli("rollback", "--yes", "--json")
    assert second.exit_code == ExitCode.OK
    assert json.loads(second.output)["actions"][0] == "weights already all on EC2"
    assert cli.router.current() == {EC2: 100, FARGATE: 0}


def test_status_json_reports_drift_against_the_stack_file(cli):
    stack_file = cli.tmp / "Pulumi.dev.yaml"
    stack_file.write_text("config:\n  soundbite:migrationPhase: shift-50\n")
    result = cli("status", "--json", "--stack-file", str(stack_file))
    assert result.exit_code == ExitCode.OK
    data = json.loads(result.output)
    assert data["drift"] is True and data["config_phase"] == "shift-50"
    assert data["live_weights"] == {EC2: 100, FARGATE: 0}
    text = cli("status", "--stack-file", str(stack_file)).output
    assert "DRIFT: config says shift-50" in text
    reconcile = cli("reconcile", "--yes", "--json", "--stack-file", str(stack_file))
    assert "pulumi config set soundbite:migrationPhase validate --stack dev" in reconcile.output


def test_approve_and_preflight_json(cli):
    result = cli("preflight", "--json")
    assert result.exit_code == ExitCode.OK
    names = [c["name"] for c in json.loads(result.output)["checks"]]
    assert {"lock", "records", "drift", "alarms", "next-step"} <= set(names)
    assert cli("approve", "--step", "shift-100").output.strip() == "approved shift-100"
    assert "shift-100" in cli.ledger.read_state()["approvals"]
