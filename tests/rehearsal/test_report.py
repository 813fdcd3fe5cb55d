"""The rehearsal's report shows what the judge saw: the windows it judged against their limits,
requests and observed share, verdicts with a legend, the fault and validate marked, and the
outcome and faults in the title; report.json carries the same numbers."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402

from migration.rehearsal.report import draw_timeline, judged_windows  # noqa: E402

T0 = 1000.0


def verdict(at: float, outcome: str, canary: tuple[int, int, float], baseline: tuple[int, int, float]) -> dict:
    def window(requests, errors, p95):
        return {"requests": requests, "errors": errors, "p95_ms": p95}

    return {"kind": "verdict", "at": T0 + at, "step": "shift-5", "verdict": {
        "outcome": outcome, "reason": f"{outcome} at {at}",
        "evidence": {"measurements": {"canary": window(*canary), "baseline": window(*baseline),
                                      "intended_share": 0.05},
                     "thresholds": {"error_rate_limit": 0.01, "p95_limit_ms": 300.0}}}}


EVENTS = [verdict(20, "pass", (50, 0, 80.0), (950, 1, 75.0)),
          verdict(25, "fail", (100, 30, 90.0), (1900, 2, 76.0))]


def test_each_verdict_keeps_the_windows_it_judged_and_their_limits():
    rows = judged_windows([{"kind": "shift", "at": T0}, *EVENTS])
    assert [r["outcome"] for r in rows] == ["pass", "fail"]
    failed = rows[1]
    assert failed["lanes"]["fargate"]["error_rate"] == 0.3 and failed["lanes"]["ec2"]["requests"] == 1900
    assert (failed["error_rate_limit"], failed["p95_limit_ms"]) == (0.01, 300.0)
    assert failed["intended_share"] == 0.05 and failed["observed_share"] == 100 / 2000


def test_the_chart_draws_limits_markers_legend_and_a_title_that_names_outcome_and_fault(tmp_path, monkeypatch):
    drawn = {}
    monkeypatch.setattr(Figure, "savefig", lambda fig, *a, **k: drawn.setdefault("fig", fig))
    summary = {"started_at": T0, "plan": "quick", "outcome": "rolled-back", "faults": ["fargate:errors=0.3@5"],
               "final_weights": {"ec2": 100, "fargate": 0}, "invariants": {},
               "judged": judged_windows(EVENTS), "weights": [{"at": T0, "fargate": 0}, {"at": T0 + 15, "fargate": 5}],
               "decisions": [{"kind": "validate", "at": T0 + 5}, {"kind": "fault", "at": T0 + 18,
                                                                  "fault": "fargate:errors=0.3@5"},
                             {"kind": "rollback", "at": T0 + 26}]}
    draw_timeline(tmp_path / "timeline.png", summary)
    fig = drawn["fig"]
    title = fig._suptitle.get_text()
    assert "rolled-back" in title and "fargate:errors=0.3@5" in title
    weights_ax, errors_ax, latency_ax, _ = fig.axes[:4]
    labels = {t.get_text() for t in weights_ax.get_legend().get_texts()}
    assert {"verdict: pass", "verdict: fail", "fault starts", "validate", "rollback"} <= labels
    horizontal = lambda ax: {round(line.get_ydata()[0], 3) for line in ax.get_lines()  # noqa: E731
                             if len(set(line.get_ydata())) == 1 and len(line.get_xdata()) == 2
                             and line.get_xdata()[0] == 0 and line.get_xdata()[1] == 1}
    assert 1.0 in horizontal(errors_ax), "the 1 % error limit (percent axis)"
    assert 300.0 in horizontal(latency_ax), "the 300 ms p95 limit"
    vertical = {round(line.get_xdata()[0], 1) for line in weights_ax.get_lines()
                if len(set(line.get_xdata())) == 1 and len(line.get_ydata()) == 2}
    assert {5.0, 18.0, 26.0} <= vertical, "validate, the fault's start and the rollback marked"
