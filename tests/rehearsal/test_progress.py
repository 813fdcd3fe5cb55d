"""What a person reads during and after a rehearsal: words and numbers, no Python reprs."""

import io

from rich.console import Console

from migration.rehearsal.progress import ProgressView


def test_shifts_and_the_summary_print_weights_as_a_person_reads_them():
    out = io.StringIO()
    view = ProgressView(Console(file=out, width=200, force_terminal=False))
    view.update("event", {"kind": "shift", "at": 1.0, "step": "shift-5",
                          "after": {"ec2": 95, "fargate": 5}})
    assert list(view.decisions) == ["shift to ec2 95 / fargate 5"]
    summary = {
        "outcome": "promoted", "final_weights": {"ec2": 0, "fargate": 100}, "duration_seconds": 60.0,
        "requests": {"total": 10, "client_errors": 0},
        "soundbites": {"accepted": 1, "ready": 1, "failed": 0, "lost": 0, "duplicates": 0},
        "detection_seconds": None, "rollback_seconds": None,
        "invariants": {"no_soundbite_lost": {"status": "held", "detail": "1 of 1 accepted settled"}},
        "started_at": 0.0, "result_reason": "all traffic is on Fargate",
        "decisions": [{"kind": "shift", "at": 1.0, "step": "shift-5", "after": {"ec2": 95, "fargate": 5}}],
    }
    view.print_summary(summary)
    printed = out.getvalue()
    assert "shift to shift-5 ec2 95 / fargate 5" in printed and "ec2 0 / fargate 100" in printed
    assert "{" not in printed and "'" not in printed


def test_the_live_table_shows_the_windows_the_judge_judged_against_their_limits():
    out = io.StringIO()
    view = ProgressView(Console(file=out, width=240, force_terminal=False))
    view.update("sample", {"lane": "fargate", "weight": 5, "requests": 3, "errors": 0, "p95_ms": 70.0})
    view.update("event", {"kind": "verdict", "at": 5.0, "step": "shift-5", "outcome": "fail",
                          "reason": "error rate 30%", "verdict": {"outcome": "fail", "evidence": {
                              "measurements": {"canary": {"requests": 100, "errors": 30, "p95_ms": 90.0},
                                               "baseline": {"requests": 1900, "errors": 2, "p95_ms": 76.0}},
                              "thresholds": {"error_rate_limit": 0.01, "p95_limit_ms": 300.0}}}})
    Console(file=out, width=240).print(view._render())
    drawn = out.getvalue()
    assert "judged 5xx % (limit 1.0)" in drawn and "judged p95 ms (limit 300)" in drawn
    assert "30.00" in drawn and "100" in drawn
