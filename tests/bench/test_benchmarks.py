"""Smoke tests of every benchmark's short mode: the JSON has its fields and sane values.

Nothing here asserts speed: these machines are noisy, and speed is what the benchmarks
themselves report, as ratios against baselines measured in the same run.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from bench import api, judge, worker
from migration import simulate
from migration.plan import default_plan


def _bench(*argv: str, timeout: float = 240) -> dict:
    done = subprocess.run([sys.executable, "-m", *argv, "--json"], capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def _machine_is_described(result: dict) -> None:
    described = result["machine"]
    assert described["cores"] >= 1 and described["python"] and described["cpu_model"]


def test_judge_short_mode_reports_the_target_cell_and_healthy_runs():
    result = judge.run(short=True)
    _machine_is_described(result)
    (cell,) = result["detection"]
    assert (cell["error_rate"], cell["weight_percent"], cell["requests_per_second"]) == (0.05, 5, 100)
    for detector in ("soundbite", "flagger", "codedeploy"):
        assert cell[detector] is None or cell[detector] > 0
    (healthy,) = result["false_rollbacks"]
    assert healthy["runs"] == judge.SHORT_HEALTHY_RUNS
    assert 0 <= healthy["soundbite"] <= healthy["runs"]
    targets = result["targets"]
    assert len(targets) == 16
    shown = [t for t in targets if "within one interval" in t["target"]]
    assert len(shown) == 1 and shown[0]["met"] is None, "a figure with no limit is shown, not judged"
    assert all(t["met"] in (True, False) for t in targets if t not in shown)
    assert "| 5% | 5 % | 100 |" in judge.markdown(result)


def test_the_simulation_decides_nothing_past_its_horizon():
    plan, fault = default_plan(), simulate.Fault(canary_error_rate=0.2, canary_percent=25)
    traffic = simulate._Traffic(fault, np.random.default_rng(3))
    expected = simulate.engine_detection(traffic, fault, plan)
    assert expected is not None
    assert simulate.engine_detection(traffic, fault, plan, horizon=judge.horizon(plan)) == expected
    # Bounded before the decision, the engine has not decided yet.
    assert simulate.engine_detection(traffic, fault, plan, horizon=expected - 1) is None


def test_worker_texts_are_distinct_and_exactly_the_benchmark_length():
    texts = worker.texts(12)
    assert len(set(texts)) == 12
    assert {len(t) for t in texts} == {worker.TEXT_CHARS}


def test_api_short_mode_measures_every_scenario_against_its_floors():
    result = _bench("bench.api", "--short", "--seconds", "1")
    _machine_is_described(result)
    scenarios = result["scenarios"]
    assert set(scenarios) == {"bare_flask_get", "get_cached", "bare_flask_post", "post_create",
                              "replay", "io_floor_create"}
    for name, row in scenarios.items():
        assert row["rps"] > 0, name
        assert row["failed"] == 0, name
        assert 0 < row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"], name
    assert all(value > 0 for value in result["ratios"].values())
    assert set(result["moderate_load"]) == {"get_cached", "post_create", "replay"}
    assert all(row["failed"] == 0 for row in result["moderate_load"].values())


def test_worker_short_mode_compares_the_full_path_with_the_raw_synthesizer():
    result = _bench("bench.worker", "--short", "--jobs", "2")
    _machine_is_described(result)
    assert result["raw"]["per_second"] > 0
    assert set(result["full"]) == {str(c) for c in worker.CONCURRENCY}
    for row in result["full"].values():
        assert row["per_second"] > 0 and row["ratio_to_raw"] > 0


def test_run_all_collects_each_benchmark_under_its_name():
    result = _bench("bench.run_all", "--short", "--only", "judge")
    assert set(result["benchmarks"]) == {"judge"}
    assert "error" not in result["benchmarks"]["judge"]


def test_run_all_refuses_an_unknown_benchmark_in_one_line():
    done = subprocess.run([sys.executable, "-m", "bench.run_all", "--only", "nope"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1].startswith("unknown benchmark(s): nope")


@pytest.mark.slow
def test_rehearsal_short_mode_reports_detection_and_rollback():
    result = _bench("bench.rehearsal", "--short", timeout=600)
    row = result["scenarios"]["errors"]
    assert row["runs"] == 1 and not row["errors"], row
    assert row["duration_seconds"] > 0
    assert row["detection_seconds"] is not None and row["rollback_seconds"] is not None
    operator = result["scenarios"]["operator-rollback"]
    assert operator["outcomes"] == ["rolled-back"] and operator["broken"] == [], operator
    assert operator["lost"] == 0 and operator["duplicates"] == 0


def test_the_rehearsal_table_counts_only_checked_invariants_as_held():
    from bench import rehearsal

    run = {"ok": True, "outcome": "promoted", "held": 6, "checked": 6, "broken": [], "lost": 0,
           "duplicates": 0, "duration_seconds": 60.0, "detection_seconds": None, "rollback_seconds": None}
    thin = {**run, "held": 4, "checked": 4}
    result = {"settings": {"runs": 2, "busy_processes": 0, "scenarios": {"healthy": "(none)"}},
              "scenarios": {"healthy": {"outcome_counts": {"promoted": 2}, "ok_runs": 2, "runs": 2,
                                        "fewest_held": min(r["held"] for r in (run, thin)),
                                        "fewest_checked": min(r["checked"] for r in (run, thin)),
                                        "broken": [], "errors": [], "duration_seconds": 60.0,
                                        "detection_seconds": None, "rollback_seconds": None,
                                        "lost": 0, "duplicates": 0}}}
    table = rehearsal.markdown(result)
    assert "| 2/2 (4 of 4) |" in table and "never counted as held" in table


def test_a_run_one_gunicorn_worker_carried_alone_is_told_apart():
    """The kernel sometimes gives one worker every keep-alive connection: that run is retried."""
    before = {1: 10.0, 2: 10.0}
    assert api.busiest_share(before, {1: 14.0, 2: 14.0}) == 0.5
    assert api.busiest_share(before, {1: 19.9, 2: 10.1}) > api.BUSIEST_WORKER_LIMIT
    assert api.busiest_share(before, {1: 10.0, 2: 10.0}) is None  # nothing measured
    assert api.busiest_share({}, {1: 3.0}) is None  # one worker: nothing to compare
