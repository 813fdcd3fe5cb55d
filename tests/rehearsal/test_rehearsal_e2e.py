"""The rehearsal end to end: real emulator, gunicorn lanes, workers, edge, load and engine.

Each run is a subprocess exactly as a person starts it, and the assertions are on its
`--json` summary and exit code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.rehearsal_lock import one_rehearsal_at_a_time

# One rehearsal at a time: two at once on a 2-core machine starve each other's clients.
pytestmark = [pytest.mark.timeout(900), pytest.mark.xdist_group("rehearsal")]
RUN_TIMEOUT_SECONDS = 480


def rehearse(tmp_path, *args: str, rate: int = 45) -> dict:
    with one_rehearsal_at_a_time():
        completed = subprocess.run(
            # 45 req/s for the faults: the fault's own requests reach the judge quickly
            [sys.executable, "-m", "soundbite.cli", "rehearse", "--json", "--rate", str(rate),
             "--log-dir", str(tmp_path / "logs"), "--report", str(tmp_path / "report"), *args],
            capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS,
        )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout)


def status(summary: dict) -> dict[str, str]:
    return {name: check["status"] for name, check in summary["invariants"].items()}


def assert_nothing_lost(summary: dict) -> None:
    soundbites = summary["soundbites"]
    assert soundbites["accepted"] > 0
    assert soundbites["lost"] == 0, soundbites
    assert soundbites["duplicates"] == 0, soundbites
    assert soundbites["ready"] + soundbites["failed"] == soundbites["accepted"]
    assert "failed" not in status(summary).values(), summary["invariants"]
    assert status(summary)["traffic_never_unjudged"] == "held"


def test_a_healthy_run_promotes_to_fargate_with_no_client_errors(tmp_path):
    summary = rehearse(tmp_path, rate=30)  # `make rehearse`'s rate: thin canary, topped up
    assert summary["outcome"] == "promoted", summary["result_reason"]
    assert summary["final_weights"] == {"ec2": 0, "fargate": 100}
    assert summary["requests"]["client_errors"] == 0
    assert summary["requests"]["per_lane"]["fargate"]["requests"] > 0
    assert summary["detection_seconds"] is None
    assert_nothing_lost(summary)
    assert status(summary)["identical_responses_across_lanes"] == "held"
    assert status(summary)["clients_saw_no_errors"] == "held"
    assert status(summary)["rolled_back_within_failure_limit"] == "not checked"
    assert [r["command"] for r in summary["engine_runs"]] == ["run"], "one engine process, no restart"
    report = tmp_path / "report"
    data = json.loads((report / "report.json").read_text())
    assert data["outcome"] == "promoted"
    judged = [w for w in data["judged"] if w["step"] == "shift-25" and w["observed_share"] is not None]
    assert judged and all(w["error_rate_limit"] == 0.01 for w in judged)
    assert 0.05 < sum(w["observed_share"] for w in judged) / len(judged) < 0.6
    assert (report / "timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    shifts = [e["step"] for e in summary["decisions"] if e["kind"] == "shift"]
    assert shifts == ["shift-5", "shift-25", "shift-50", "shift-100"]


@pytest.mark.slow
def test_a_5xx_fault_on_fargate_rolls_back_within_the_failure_limit(tmp_path):
    summary = rehearse(tmp_path, "--fault", "fargate:errors=0.3@5")
    assert summary["outcome"] == "rolled-back", summary["result_reason"]
    assert summary["final_weights"] == {"ec2": 100, "fargate": 0}
    failed_checks = [e for e in summary["decisions"]
                     if e["kind"] == "verdict" and e.get("outcome") == "fail"]
    assert 1 <= len(failed_checks) <= 2  # the quick plan's failure limit
    assert "error rate" in summary["result_reason"]
    # Client-visible errors are bounded by the canary's share of traffic until detection.
    assert summary["requests"]["client_errors"] <= summary["requests"]["per_lane"]["fargate"]["requests"]
    assert summary["detection_seconds"] is not None and summary["rollback_seconds"] < 5
    assert status(summary)["rolled_back_within_failure_limit"] == "held"
    assert status(summary)["clients_saw_no_errors"] == "not checked"
    assert_nothing_lost(summary)


@pytest.mark.slow
def test_crashing_the_fargate_api_at_25_percent_rolls_back_and_loses_nothing(tmp_path):
    summary = rehearse(tmp_path, "--fault", "fargate:crash@25")
    assert summary["outcome"] == "rolled-back", summary["result_reason"]
    assert summary["final_weights"] == {"ec2": 100, "fargate": 0}
    assert "0 of 1 tasks running" in summary["result_reason"]  # the ECS service count
    assert summary["requests"]["failed_operations"] == 0  # retries with the same key landed
    assert status(summary)["identical_responses_across_lanes"] == "not checked"
    assert_nothing_lost(summary)


def test_bad_options_get_a_one_line_error():
    completed = subprocess.run(
        [sys.executable, "-m", "soundbite.cli", "rehearse", "--fault", "gcp:errors=0.3"],
        capture_output=True, text=True, timeout=60)
    assert completed.returncode == 2
    assert "unknown lane 'gcp'" in completed.stderr
    assert "Traceback" not in completed.stderr


@pytest.mark.slow
def test_killing_the_fargate_worker_rolls_back_and_its_job_still_completes(tmp_path):
    summary = rehearse(tmp_path, "--fault", "fargate:worker-crash@25")
    assert summary["outcome"] == "rolled-back", summary["result_reason"]
    assert "worker process exited" in summary["result_reason"]
    assert summary["requests"]["client_errors"] == 0  # the API never noticed
    assert_nothing_lost(summary)


# --- the control plane's faults: the engine is `soundbite migrate` in its own process ----------


@pytest.mark.slow
def test_an_operators_rollback_mid_soak_is_final(tmp_path):
    summary = rehearse(tmp_path, "--fault", "operator:rollback@5")
    assert summary["outcome"] == "rolled-back", summary["result_reason"]
    assert summary["final_weights"] == {"ec2": 100, "fargate": 0}
    runs = [(r["command"], r["exit_code"]) for r in summary["engine_runs"]]  # in order of start
    assert runs == [("run", 6), ("rollback", 0), ("run", 5)], "stood down; the restart is refused"
    assert status(summary)["operator_rollback_is_final"] == "held"
    assert status(summary)["clients_saw_no_errors"] == "held"
    assert_nothing_lost(summary)


@pytest.mark.slow
def test_the_engine_killed_between_route53_and_the_ledger_resumes(tmp_path):
    summary = rehearse(tmp_path, "--fault", "engine:crash@5")
    runs = [(r["command"], r["exit_code"]) for r in summary["engine_runs"]]
    assert runs[0] == ("run", -9) and runs[1][0] == "resume", runs
    resumed = [e for e in summary["decisions"] if e["kind"] == "resume"]
    assert resumed and "reached Route 53" in resumed[0]["adopted"]
    assert any(e["kind"] == "verdict" and e["step"] == "shift-5" and e["at"] > resumed[0]["at"]
               for e in summary["decisions"]), "the adopted step was judged"
    # promoted, or held by the judge with its reason (latency on a loaded machine): never unjudged
    assert summary["outcome"] in ("promoted", "held"), summary["result_reason"]
    assert status(summary)["clients_saw_no_errors"] == "held"
    assert_nothing_lost(summary)


@pytest.mark.slow
@pytest.mark.parametrize(("fault", "outcome", "reason"), [
    ("control:metrics=down@25", "rolled-back", "could not be measured"),
    ("control:ledger=down@25", "rolled-back", "control-plane failure"),
    ("ec2:alarm@25", "held", "the baseline is unhealthy"),
    ("control:metrics=throttle@25", "promoted", "all traffic is on Fargate"),
    ("control:route53=slow@25", "promoted", "all traffic is on Fargate"),
])
def test_each_control_plane_fault_ends_in_its_safe_state(tmp_path, fault, outcome, reason):
    summary = rehearse(tmp_path, "--fault", fault)
    assert summary["outcome"] == outcome, summary["result_reason"]
    assert reason in summary["result_reason"]
    assert status(summary)["clients_saw_no_errors"] == "held"
    if outcome == "rolled-back":
        assert status(summary)["rolled_back_within_failure_limit"] == "held"
    if fault.startswith("control:metrics"):
        assert summary["control_plane_failures"]["cloudwatch"] > 0, "the fault reached the engine"
    assert_nothing_lost(summary)


@pytest.mark.parametrize("kind,message", [("moto", "only MiniStack serves"), ("localstack", "choose one of")])
def test_an_emulator_that_cannot_judge_is_refused_in_one_line(kind, message):
    completed = subprocess.run(
        [sys.executable, "-m", "soundbite.cli", "rehearse"], capture_output=True, text=True,
        timeout=60, env={**os.environ, "SOUNDBITE_EMULATOR": kind})
    assert completed.returncode == 2, completed.stderr
    assert message in completed.stderr and "Traceback" not in completed.stderr
