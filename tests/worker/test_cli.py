"""`soundbite dlq ...` and `soundbite worker`: output, JSON, refusals, one-line errors, exit codes."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from soundbite.cli import main
from tests.worker.conftest import queue_counts


@pytest.fixture
def cli(fresh_data_plane):
    def run(*args: str, **env: str | None):
        runner = CliRunner()
        return runner.invoke(main, list(args), env={**fresh_data_plane.service_env(), **env},
                             catch_exceptions=False)

    return run


@pytest.fixture
def dead_letters(settings, sqs):
    for n in range(2):
        sqs.send_message(
            QueueUrl=settings.dlq_url, MessageBody=json.dumps({"id": f"{n:032x}", "environment": "x"}),
            MessageAttributes={"correlationId": {"DataType": "String", "StringValue": f"c{n}"}})
    return 2


def test_inspect_json_lists_dead_letters_and_leaves_them(cli, dead_letters, settings, sqs):
    result = cli("dlq", "inspect", "--json")

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["count"] == 2
    assert {m["soundbite_id"] for m in data["messages"]} == {f"{n:032x}" for n in range(2)}
    assert all(m["redrive_count"] == 0 and m["age_seconds"] >= 0 for m in data["messages"])
    assert queue_counts(sqs, settings.dlq_url) == (2, 0, 0)


def test_inspect_table_and_empty_dlq(cli, dead_letters):
    table = cli("dlq", "inspect", "--max", "1")
    assert table.exit_code == 0
    assert "1 dead letter(s)" in table.stdout

    cli("dlq", "redrive", "--yes", "--json")
    empty = cli("dlq", "inspect")
    assert empty.stdout.strip() == "the DLQ is empty"


def test_redrive_dry_run_changes_nothing(cli, dead_letters, settings, sqs):
    result = cli("dlq", "redrive", "--dry-run", "--json")

    assert result.exit_code == 0
    summary = json.loads(result.stdout)
    assert (summary["dryRun"], summary["redriven"]) == (True, 2)
    assert queue_counts(sqs, settings.dlq_url) == (2, 0, 0)
    assert queue_counts(sqs, settings.queue_url) == (0, 0, 0)


def test_redrive_moves_messages_and_reports_json(cli, dead_letters, settings, sqs):
    result = cli("dlq", "redrive", "--yes", "--json")

    assert result.exit_code == 0
    summary = json.loads(result.stdout)
    assert (summary["redriven"], summary["refused"], summary["errors"]) == (2, 0, 0)
    assert queue_counts(sqs, settings.dlq_url) == (0, 0, 0)
    assert queue_counts(sqs, settings.queue_url) == (0, 0, 2), "delayed by the backoff"


@pytest.mark.parametrize("environment", ["prod", "dev"])
def test_unattended_redrive_without_yes_refuses_and_moves_nothing(cli, dead_letters, settings, sqs,
                                                                   environment):
    result = cli("dlq", "redrive", SOUNDBITE_ENVIRONMENT=environment)

    assert result.exit_code == 5
    assert result.output.strip() == (
        "refused: no terminal to confirm on; pass --yes to go ahead unattended; nothing moved")
    assert queue_counts(sqs, settings.dlq_url) == (2, 0, 0)
    as_json = cli("dlq", "redrive", "--json", SOUNDBITE_ENVIRONMENT=environment)
    assert as_json.exit_code == 5 and json.loads(as_json.stdout)["error"] == "refused"


def test_production_redrive_with_yes_runs(cli, dead_letters, settings, sqs):
    result = cli("dlq", "redrive", "--yes", "--json", SOUNDBITE_ENVIRONMENT="prod")

    assert result.exit_code == 0
    assert json.loads(result.stdout)["redriven"] == 2


def test_production_dry_run_needs_no_confirmation(cli, dead_letters):
    result = cli("dlq", "redrive", "--dry-run", SOUNDBITE_ENVIRONMENT="prod")

    assert result.exit_code == 0
    assert "would redrive: 2" in result.stdout


def test_missing_dlq_url_is_a_one_line_error(cli):
    result = cli("dlq", "inspect", SOUNDBITE_DLQ_URL=None)

    assert result.exit_code == 1
    assert result.output.strip() == "Error: SOUNDBITE_DLQ_URL is not set; point it at the queue's URL"


def test_unreachable_dlq_is_a_one_line_error(cli, settings):
    result = cli("dlq", "inspect", SOUNDBITE_DLQ_URL=settings.dlq_url + "-gone")

    assert result.exit_code == 1
    assert result.output.strip() == "Error: could not read the DLQ (AWS.SimpleQueueService.NonExistentQueue)"


@pytest.mark.parametrize(("env", "message"), [
    ({"SOUNDBITE_QUEUE_URL": None}, "Error: SOUNDBITE_QUEUE_URL is not set; point it at the queue's URL"),
    ({"SOUNDBITE_WORKER_CONCURRENCY": "many"}, "Error: SOUNDBITE_WORKER_CONCURRENCY must be a number, got 'many'"),
    ({"SOUNDBITE_WORKER_GRACE_SECONDS": "40"},
     "Error: worker grace must be 0..30 s (below ECS's stop timeout), got 40.0"),
    ({"SOUNDBITE_SYNTHESIZER": "festival"},
     "Error: unknown synthesizer 'festival'; SOUNDBITE_SYNTHESIZER must be one of: espeak, polly"),
    ({"SOUNDBITE_BACKEND": "mainframe"},
     "Error: SOUNDBITE_BACKEND must be one of local, ec2, fargate, got 'mainframe'"),
])
def test_worker_bad_settings_are_one_line_errors(cli, env, message):
    result = cli("worker", **env)

    assert result.exit_code == 1
    assert result.output.strip() == message


def test_worker_bad_option_is_a_usage_error(cli):
    result = cli("worker", "--concurrency", "0")

    assert result.exit_code == 2


def test_a_dry_run_emits_no_metrics_and_a_real_redrive_does(cli, dead_letters):
    dry = cli("dlq", "redrive", "--dry-run", "--json")
    assert dry.exit_code == 0
    assert "_aws" not in dry.stderr, "a dry run counted as redrives"

    real = cli("dlq", "redrive", "--json", "--yes")
    assert real.exit_code == 0
    [emf] = [json.loads(line) for line in real.stderr.splitlines() if '"_aws"' in line]
    assert emf["Redriven"] == 2


def test_inspect_hides_nothing_and_shows_the_count_before_its_own_look(cli, dead_letters, settings, sqs):
    first = json.loads(cli("dlq", "inspect", "--json").stdout)
    assert queue_counts(sqs, settings.dlq_url) == (2, 0, 0), "visible to the redrive throughout"
    second = json.loads(cli("dlq", "inspect", "--json").stdout)

    assert [m["receives"] for m in first["messages"]] == [0, 0]
    assert all(m["receives"] >= 1 for m in second["messages"]), "SQS counts every look"


def run_cli(args: list[str], env: dict[str, str], answer: str | None = None):
    """The real `soundbite` process; with `answer`, its stdin is a terminal that types it."""
    import os
    import pty
    import subprocess
    import sys

    if answer is None:
        return subprocess.run([sys.executable, "-m", "soundbite.cli", *args], env={**os.environ, **env},
                              capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen([sys.executable, "-m", "soundbite.cli", *args], env={**os.environ, **env},
                                   stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        os.write(controller, answer.encode())
        out, err = process.communicate(timeout=60)
        return subprocess.CompletedProcess(process.args, process.returncode, out, err)
    finally:
        os.close(controller)
        os.close(terminal)


def test_dlq_reads_the_migrate_target_file_with_config(dead_letters, fresh_data_plane, aws_emulator, tmp_path):
    from infra.local.emulator import LOCAL_REGION

    target = tmp_path / "target.json"
    target.write_text(json.dumps({"stack": "dev", "environment": fresh_data_plane.environment,
                                  "region": LOCAL_REGION}))

    result = run_cli(["dlq", "--config", str(target), "inspect", "--json"], aws_emulator.env)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["count"] == 2
    missing = run_cli(["dlq", "--config", str(tmp_path / "nope.json"), "inspect"], aws_emulator.env)
    assert missing.returncode == 2 and missing.stderr.strip().startswith("Error: config file")


def test_dlq_config_names_the_soundbites_table_so_refused_letters_fail_their_soundbites(
        fresh_data_plane, aws_emulator, tmp_path, monkeypatch):
    import click

    from infra.local.emulator import LOCAL_REGION
    from soundbite.dlq import _dlq_settings, dlq

    for key, value in aws_emulator.env.items():
        monkeypatch.setenv(key, value)
    target = tmp_path / "target.json"
    target.write_text(json.dumps({"stack": "dev", "environment": fresh_data_plane.environment,
                                  "region": LOCAL_REGION}))
    with click.Context(dlq, obj={"config": str(target)}):
        settings = _dlq_settings()
    assert settings.table == fresh_data_plane.service_env()["SOUNDBITE_TABLE"]


def test_dlq_json_errors_are_json(cli):
    result = cli("dlq", "inspect", "--json", SOUNDBITE_DLQ_URL=None)

    assert result.exit_code == 1
    assert json.loads(result.stdout)["message"] == "SOUNDBITE_DLQ_URL is not set; point it at the queue's URL"


def test_redrive_on_a_terminal_asks_and_no_moves_nothing(dead_letters, fresh_data_plane, aws_emulator,
                                                         settings, sqs):
    env = {**aws_emulator.env, **fresh_data_plane.service_env()}

    refused = run_cli(["dlq", "redrive"], env, answer="n\n")
    assert refused.returncode == 5, refused.stderr
    assert "Redrive up to 100 dead letters" in refused.stderr
    assert queue_counts(sqs, settings.dlq_url) == (2, 0, 0)

    confirmed = run_cli(["dlq", "redrive", "--yes"], env, answer="")
    assert confirmed.returncode == 0, confirmed.stderr
    assert "redriven: 2" in confirmed.stdout
