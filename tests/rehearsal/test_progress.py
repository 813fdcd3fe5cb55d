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
