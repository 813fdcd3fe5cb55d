"""The rehearsal end to end: real emulator, gunicorn lanes, workers, edge, load and engine.

Each run is a subprocess exactly as a person starts it, and the assertions are on its
`--json` summary and exit code.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# One rehearsal at a time: two at once on a 2-core machine starve each other's clients.
pytestmark = [pytest.mark.timeout(300), pytest.mark.xdist_group("rehearsal")]


def rehearse(tmp_path, *args: str) -> dict:
    completed = subprocess.run(
        # 45 req/s: the 5 % step needs its 20 canary requests even when the other test
        # process loads the two cores.
        [sys.executable, "-m", "soundbite.cli", "rehearse", "--json", "--rate", "45",
         "--log-dir", str(tmp_path / "logs"), "--report", str(tmp_path / "report"), *args],
        capture_output=True, text=True, timeout=280,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout)


def assert_nothing_lost(summary: dict) -> None:
    soundbites = summary["soundbites"]
    assert soundbites["accepted"] > 0
    assert soundbites["lost"] == 0, soundbites
    assert soundbites["duplicates"] == 0, soundbites
    assert soundbites["ready"] + soundbites["failed"] == soundbites["accepted"]
    assert summary["invariants"]["identical_responses_across_lanes"]


def test_a_healthy_run_promotes_to_fargate_with_no_client_errors(tmp_path):
    summary = rehearse(tmp_path)
    assert summary["outcome"] == "promoted", summary["result_reason"]
    assert summary["final_weights"] == {"ec2": 0, "fargate": 100}
    assert summary["requests"]["client_errors"] == 0
    assert summary["requests"]["per_lane"]["fargate"]["requests"] > 0
    assert summary["detection_seconds"] is None
    assert_nothing_lost(summary)
    report = tmp_path / "report"
    assert json.loads((report / "report.json").read_text())["outcome"] == "promoted"
    assert (report / "timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    shifts = [e["step"] for e in summary["decisions"] if e["kind"] == "shift"]
    assert shifts == ["shift-5", "shift-25", "shift-50", "shift-100"]


def test_a_5xx_fault_on_fargate_rolls_back_within_the_failure_limit(tmp_path):
    summary = rehearse(tmp_path, "--fault", "fargate:errors=0.3")
    assert summary["outcome"] == "rolled_back", summary["result_reason"]
    assert summary["final_weights"] == {"ec2": 100, "fargate": 0}
    failed_checks = [e for e in summary["decisions"]
                     if e["kind"] == "verdict" and e.get("outcome") == "fail"]
    assert 1 <= len(failed_checks) <= 2  # the quick plan's failure limit
    assert "error rate" in summary["result_reason"]
    # Client-visible errors are bounded by the canary's share of traffic until detection.
    assert summary["requests"]["client_errors"] <= summary["requests"]["per_lane"]["fargate"]["requests"]
    assert summary["detection_seconds"] is not None and summary["rollback_seconds"] < 5
    assert_nothing_lost(summary)


def test_crashing_the_fargate_api_at_25_percent_rolls_back_and_loses_nothing(tmp_path):
    summary = rehearse(tmp_path, "--fault", "fargate:crash@25")
    assert summary["outcome"] == "rolled_back", summary["result_reason"]
    assert summary["final_weights"] == {"ec2": 100, "fargate": 0}
    assert "api process exited" in summary["result_reason"]
    assert summary["requests"]["failed_operations"] == 0  # retries with the same key landed
    assert_nothing_lost(summary)


def test_bad_options_get_a_one_line_error():
    completed = subprocess.run(
        [sys.executable, "-m", "soundbite.cli", "rehearse", "--fault", "gcp:errors=0.3"],
        capture_output=True, text=True, timeout=60)
    assert completed.returncode == 2
    assert "unknown lane 'gcp'" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_killing_the_fargate_worker_rolls_back_and_its_job_still_completes(tmp_path):
    summary = rehearse(tmp_path, "--fault", "fargate:worker-crash@25")
    assert summary["outcome"] == "rolled_back", summary["result_reason"]
    assert "worker process exited" in summary["result_reason"]
    assert summary["requests"]["client_errors"] == 0  # the API never noticed
    assert_nothing_lost(summary)
