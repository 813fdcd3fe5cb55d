"""What a person sees of a real run, through the real CLI: the live view's JSON stream, history
with time and identity, status drift and --watch, and the plan's hooks (a local webhook
receiver, the emulator's SNS, a command)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from migration.cli import migrate
from migration.edge_metrics import target_fields as edge_target_fields
from soundbite.exit_codes import ExitCode

from .conftest import EC2, FARGATE
from .fixtures_capacity import stack_file_fixture  # noqa: F401 - the stack_file fixture
from .test_cli import FAST_PLAN


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - the handler's protocol name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    server.received = []
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def run_cli(tmp_path, zone, fresh_data_plane):
    zone_id, record = zone
    config = tmp_path / "target.json"
    config.write_text(json.dumps({"stack": "dev", "zone_id": zone_id, "record_name": record,
                                  "environment": fresh_data_plane.environment,
                                  **edge_target_fields(fresh_data_plane.environment)}))

    def invoke(command, *args, plan=None, input=None):
        path = tmp_path / "plan.json"
        path.write_text(json.dumps(plan or FAST_PLAN))
        return CliRunner().invoke(migrate, [command, "--config", str(config), "--plan", str(path), *args],
                                  input=input)

    return invoke


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_a_run_streams_its_live_view_as_json_lines(run_cli):
    result = run_cli("advance", "--json", "--yes")
    assert result.exit_code == ExitCode.HELD, result.output
    events = json_lines(result.stderr)
    kinds = [e["kind"] for e in events]
    assert kinds[:2] == ["shift", "wait"] and "soak" in kinds and kinds[-1] == "held"
    waits = [e["what"] for e in events if e["kind"] == "wait"]
    assert waits == ["route53-insync", "dns-ttl", "metric-lag"]
    verdict = next(e for e in events if e["kind"] == "verdict")
    assert set(verdict["lanes"]) == {EC2, FARGATE} and verdict["thresholds"]["error_rate"] == 0.01
    assert verdict["thresholds"]["min_requests"] > 0 and verdict["needed"] > 0, "held: too few requests"
    assert json.loads(result.stdout)["status"] == "held"
    # the same events drawn as the live table a person watches
    import io

    from rich.console import Console

    from migration.live import LiveView

    out = io.StringIO()
    view = LiveView(Console(file=out, width=160), mode="table", now=lambda: verdict["at"])
    for event in events[:events.index(verdict) + 1]:
        view._update(event)
    Console(file=out, width=160).print(view.render())
    drawn = out.getvalue()
    assert f"requests (min {verdict['thresholds']['min_requests']})" in drawn
    assert f"needs {verdict['needed']} more" in drawn and "limit 1.0%" in drawn


def test_history_names_the_time_and_who_acted_on_every_event(run_cli):
    run_cli("advance", "--yes")
    data = json.loads(run_cli("history", "--json").stdout)
    assert data and all(e["time"].endswith("UTC") and e["operator"] for e in data)
    assert any("arn:aws:" in e["operator"] for e in data), "the caller's STS identity"
    text = run_cli("history").stdout
    assert "shift" in text and "{" not in text, "no Python reprs for a person"


def test_status_shows_ledger_drift_and_watches(run_cli, zone, boto_session):
    from migration.router import Route53WeightedRouter

    run_cli("advance", "--yes")  # the tool sets 50 / 50, then holds
    Route53WeightedRouter(*zone, client=boto_session.client("route53")).set_weights({EC2: 80, FARGATE: 20})
    data = json.loads(run_cli("status", "--json").stdout)
    assert data["ledger_drift"] is True
    text = run_cli("status").stdout
    assert "ledger: DRIFT: this tool last set ec2 50 / fargate 50" in text and "{'" not in text
    watched = run_cli("status", "--watch", "--json", "--count", "2", "--interval", "0.1").stdout
    assert len(json_lines(watched)) == 2


def test_hooks_tell_a_webhook_sns_and_a_command_and_a_dead_hook_never_blocks_a_rollback(
        run_cli, receiver, boto_session, tmp_path):
    sns, sqs = boto_session.client("sns"), boto_session.client("sqs")
    topic = sns.create_topic(Name=f"hooks-{tmp_path.name[-8:]}")["TopicArn"]
    queue = sqs.create_queue(QueueName=f"hooks-{tmp_path.name[-8:]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    out = tmp_path / "hook.json"
    url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    plan = {**FAST_PLAN, "notify": [
        {"events": ["held", "rollback"], "webhook": url},
        {"events": ["rollback"], "webhook": "http://127.0.0.1:9/dead"},
        {"events": ["rollback"], "sns_topic": topic},
        {"events": ["rollback"], "command": f"cat > {out}"},
    ]}
    held = run_cli("advance", "--yes", plan=plan)
    assert held.exit_code == ExitCode.HELD
    rolled = run_cli("rollback", "--yes", "--reason", "pager test", plan=plan)
    assert rolled.exit_code == ExitCode.OK, rolled.output
    kinds = [e["kind"] for e in receiver.received]
    assert kinds == ["held", "rollback"]
    assert receiver.received[0]["evidence"]["outcome"] == "inconclusive", "the verdict's evidence"
    assert receiver.received[1]["reason"] == "pager test"
    message = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)["Messages"][0]["Body"]
    assert "pager test" in message
    assert json.loads(out.read_text())["kind"] == "rollback"


def test_a_hook_plan_entry_needs_exactly_one_target(run_cli):
    plan = {**FAST_PLAN, "notify": [{"events": ["rollback"]}]}
    result = run_cli("plan", plan=plan)
    assert result.exit_code == ExitCode.USAGE and "notify.0" in result.output


def soundbite_cli(*args: str, cwd=None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "soundbite.cli", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd)


@pytest.mark.parametrize("args", [("--plan", "no-such-plan"), ("--until", "shift-99")],
                         ids=["unknown plan", "unknown step"])
def test_rehearse_refuses_a_bad_plan_with_the_usage_code_before_starting_anything(tmp_path, args):
    result = soundbite_cli("rehearse", "--log-dir", str(tmp_path / "logs"), *args)

    assert result.returncode == ExitCode.USAGE, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), lines
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "logs").exists(), "nothing was started"


def test_output_that_is_not_a_terminal_is_never_wrapped(tmp_path):
    deep = tmp_path / ("a-directory-with-a-long-name-" * 4) / "target.json"
    result = soundbite_cli("migrate", "status", "--config", str(deep))

    assert result.returncode == ExitCode.USAGE, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and len(lines[0]) > 120 and str(deep) in lines[0], lines


def test_tables_and_lines_printed_to_a_pipe_keep_their_width(monkeypatch):
    import io

    from rich.table import Table

    from soundbite.console import console

    piped = io.StringIO()
    monkeypatch.setattr("sys.stdout", piped)
    out = console()
    reason = ("held: " + "the canary needs 1041 more requests at the baseline's 0.1 % " * 3).strip()
    out.print(reason)
    table = Table("lane", "reason")
    table.add_row("fargate", reason)
    out.print(table)

    lines = piped.getvalue().splitlines()
    assert lines[0] == reason
    assert sum(reason in line for line in lines) == 2, lines


@pytest.mark.parametrize("command", [("plan",), ("run", "--dry-run"), ("advance", "--dry-run"),
                                     ("rollback", "--dry-run"), ("preflight",)])
def test_human_output_has_no_python_reprs(run_cli, command):
    result = run_cli(*command)
    text = result.stdout + result.stderr
    assert "{'" not in text and "': " not in text, text
    assert " / fargate " in text or command == ("preflight",), "weights read `ec2 N / fargate M`"


@pytest.mark.parametrize("command", [("shift", "--to", "50"), ("resume",)])
def test_via_pulumi_shows_pulumis_preview_before_anything_is_confirmed(run_cli, monkeypatch, tmp_path,
                                                                        zone, route53, command,
                                                                        stack_file):
    """The preview of the phase comes first; unconfirmed (no terminal, no --yes), nothing runs."""
    from infra import phases
    from infra.automation import PulumiStack

    from .test_pulumi_path import FakeWorkspaceStack

    stack_file(shiftSteps=FAST_PLAN["steps"])  # the stack's config beside Pulumi.yaml
    fake = FakeWorkspaceStack(route53, *zone, phases.build_phases(tuple(FAST_PLAN["steps"])))
    fake.config["soundbite:migrationPhase"] = "validate"
    monkeypatch.setattr("migration.factory.automation.select_stack",
                        lambda name, work_dir, select=None: PulumiStack(fake, name))
    result = run_cli(*command, "--via", "pulumi", "--pulumi-dir", str(tmp_path))
    assert result.exit_code == ExitCode.REFUSED, result.output
    assert "would: pulumi preview of phase shift-50 (ec2 50 / fargate 50)" in result.stderr
    assert fake.previews >= 1 and fake.ups == 0, "previewed, never applied"
    assert fake.config["soundbite:migrationPhase"] == "validate", "the config is left as it was"
