"""The analysis object: one step's counters and decisions, driven by verdicts on a fake clock."""

from __future__ import annotations

from migration.analysis import Action, Analysis
from migration.judge import Outcome, Severity, Verdict, unmeasured
from migration.plan import Step, quick_plan

FAIL = Verdict(Outcome.FAIL, "error rate 5.0% > 1.0%", Severity.CRITICAL)
SOFT = Verdict(Outcome.FAIL, "p95 400 ms > 300 ms", Severity.SOFT)
PASS = Verdict(Outcome.PASS, "ok")
MAYBE = Verdict(Outcome.INCONCLUSIVE, "need 10 more canary requests")
ERROR = unmeasured("Throttling: Rate exceeded")


def analysis(validation: bool = False) -> Analysis:
    plan = quick_plan()  # failure limit 2, error limit 4, soak 8 s, extension 40 s
    step = Step("validate", 0, 8) if validation else Step("shift-5", 5, 8)
    return Analysis.for_step(step, plan, started_at=0.0)


def actions(a: Analysis, verdicts, every: float = 1.0) -> list[str]:
    return [a.observe(v, every * (i + 1)).action.value for i, v in enumerate(verdicts)]


def test_a_failure_streak_needs_consecutive_failures():
    assert actions(analysis(), [FAIL, PASS, FAIL, MAYBE, FAIL]) == ["continue"] * 4 + ["rollback"]


def test_a_soft_streak_steps_back_and_validate_holds():
    assert actions(analysis(), [SOFT, SOFT])[-1] == "step-back"
    assert actions(analysis(validation=True), [FAIL, FAIL])[-1] == "hold"


def test_unreadable_checks_roll_back_after_the_error_limit_and_never_pass():
    a = analysis()
    assert actions(a, [ERROR] * 3, every=5) == ["continue"] * 3, "past the soak, errors never promote"
    decision = a.observe(ERROR, 20)
    assert decision.action is Action.ROLLBACK
    assert "4 checks in a row could not be measured" in decision.reason and "Throttling" in decision.reason


def test_an_error_neither_resets_nor_extends_a_failure_streak():
    assert actions(analysis(), [FAIL, ERROR, FAIL]) == ["continue", "continue", "rollback"]
    assert actions(analysis(), [ERROR, ERROR, ERROR, PASS, ERROR, ERROR, ERROR]) == ["continue"] * 7


def test_pass_promotes_only_after_the_soak_and_inconclusive_holds_at_the_deadline():
    a = analysis()
    assert a.observe(PASS, 7).action is Action.CONTINUE
    assert a.observe(PASS, 8).action is Action.PROMOTE
    b = analysis()
    assert b.observe(MAYBE, 47).action is Action.CONTINUE
    held = b.observe(MAYBE, 48)
    assert held.action is Action.HOLD and "soak extension used up" in held.reason


def test_a_canary_failing_when_the_soak_runs_out_is_rolled_back_never_held():
    """Looks slowed to a crawl (a loaded machine, a slow provider): the deadline arrives
    after one failed look, before the failure limit's second."""
    late = analysis()
    assert late.observe(MAYBE, 5).action is Action.CONTINUE
    decision = late.observe(FAIL, 48)
    assert decision.action is Action.ROLLBACK and "ran out while it failed" in decision.reason
    assert analysis().observe(SOFT, 48).action is Action.STEP_BACK
    assert analysis(validation=True).observe(FAIL, 48).action is Action.HOLD, "validate moves no traffic"
