"""The rollback runbook, run word for word against a live rehearsal stopped mid-shift.

A real `soundbite rehearse --until shift-25 --keep-up` runs in its own process (emulator,
two lanes, edge, client load); the runbook's marked commands run in a shell with the
rehearsal's environment, twice (the runbook promises that is harmless). Afterwards the
rehearsal drains and its summary must show all traffic on EC2 and nothing lost.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pytest

from migration.plan import QUICK_SOAK_SECONDS, quick_plan
from tests.runbooks import runbook_text as rb
from tests.runbooks.command_checks import EXAMPLE_STACK_FILE, ROOT

pytestmark = [pytest.mark.timeout(600), pytest.mark.xdist_group("rehearsal"),
              pytest.mark.usefixtures("one_rehearsal_at_a_time")]

START_TIMEOUT_SECONDS = 150
COMMAND_TIMEOUT_SECONDS = 60
DRAIN_TIMEOUT_SECONDS = 90
ALL_ON_EC2 = {"ec2": 100, "fargate": 0}


def runbook_plan() -> dict:
    """The quick plan's timings with steps 25 and 100: at a gentle load the 5 % step sees too
    few canary requests to be judged within its soak and holds, which would end the
    rehearsal on EC2 instead of mid-shift."""
    quick = quick_plan()
    return {"name": "runbook", "validate": True, "soak_seconds": QUICK_SOAK_SECONDS, "steps": [25, 100],
            "ttl_wait_seconds": quick.ttl_wait_seconds, "metric_lag_seconds": quick.metric_lag_seconds,
            "analysis_interval_seconds": quick.analysis_interval_seconds,
            "max_soak_extension_seconds": quick.max_soak_extension_seconds, "judge": asdict(quick.judge)}


def read_env_file(path: Path) -> dict[str, str]:
    """`export NAME=value` lines, as `source` would set them."""
    pairs = (line.removeprefix("export ").split("=", 1) for line in path.read_text().splitlines()
             if line.startswith("export "))
    return dict(pairs)


@pytest.fixture
def rehearsal(tmp_path):
    """A rehearsal kept up after shift-25; yields (process, log dir); always stopped."""
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(runbook_plan()))
    log_dir = tmp_path / "rehearsal"
    stderr = (tmp_path / "rehearse.stderr").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "soundbite.cli", "rehearse", "--plan", str(plan), "--until", "shift-25",
         "--keep-up", "--json", "--log-dir", str(log_dir), "--rate", "10"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not (log_dir / "target.json").exists():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the rehearsal did not come up: {(tmp_path / 'rehearse.stderr').read_text()[-2000:]}")
            time.sleep(0.5)
        yield process, log_dir
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(DRAIN_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
        stderr.close()


def run_in_shell(command: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", command], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=COMMAND_TIMEOUT_SECONDS)


def test_the_rollback_runbook_mid_shift_puts_all_traffic_on_ec2_twice_and_loses_nothing(rehearsal, tmp_path):
    process, log_dir = rehearsal
    target_file = log_dir / "target.json"
    target = json.loads(target_file.read_text())
    rehearsal_env = read_env_file(log_dir / "rehearsal.env")
    env = {**os.environ, **rehearsal_env,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    before = run_in_shell(f"soundbite migrate status --config {target_file} --json", env)
    assert json.loads(before.stdout)["live_weights"] == {"ec2": 75, "fargate": 25}, "not mid-shift"
    stack_file = tmp_path / f"Pulumi.{target['stack']}.yaml"
    stack_file.write_text(EXAMPLE_STACK_FILE.read_text().replace(
        "soundbite:migrationPhase: ec2-only", "soundbite:migrationPhase: shift-25"))
    values = {
        "<CONFIG>": str(target_file), "<REASON>": "runbook test: fargate 5xx", "<STACK>": target["stack"],
        "<ENVIRONMENT>": target["environment"], "<ZONE_ID>": rehearsal_env["SOUNDBITE_ZONE_ID"],
        "<RECORD_NAME>": rehearsal_env["SOUNDBITE_RECORD_NAME"], "<STACK_FILE>": str(stack_file),
    }
    commands = [rb.fill(c, values) for c in rb.marked_commands("rollback")]

    outputs = []
    for attempt in (1, 2):
        for command in commands:
            result = run_in_shell(command, env)
            assert result.returncode == 0, (attempt, command, result.stdout, result.stderr)
            outputs.append((command, result.stdout))

    rollbacks = [out for command, out in outputs if " rollback " in command]
    assert "rolled back" in rollbacks[0] and "already" not in rollbacks[0]
    assert all("weights already all on EC2" in out for out in rollbacks[1:])
    for out in (out for command, out in outputs if " status " in command):
        status = json.loads(out)
        assert (status["live_weights"], status["run_status"]) == (ALL_ON_EC2, "aborted")
    reconciles = [out for command, out in outputs if " reconcile " in command]
    assert reconciles and all(
        f"pulumi config set soundbite:migrationPhase validate --stack {target['stack']}" in out
        for out in reconciles)

    process.send_signal(signal.SIGTERM)
    stdout, _ = process.communicate(timeout=DRAIN_TIMEOUT_SECONDS)
    summary = json.loads(stdout)
    assert summary["final_weights"] == ALL_ON_EC2
    assert summary["soundbites"]["lost"] == 0 and summary["soundbites"]["accepted"] > 0
    broken = {n: c for n, c in summary["invariants"].items() if c["status"] == "failed"}
    assert summary["invariants"] and not broken, broken
    assert process.returncode == 0
