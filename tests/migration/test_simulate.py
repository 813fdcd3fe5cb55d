"""The detection-time simulation: faults are caught, healthy canaries are not."""

from migration.plan import quick_plan
from migration.simulate import Fault, compare


def test_five_percent_errors_at_five_percent_weight():
    times = compare(Fault(0.05, 5, 100.0), trials=5)
    assert times == {"soundbite": 210.0, "flagger": 300.0, "codedeploy": 240.0}


def test_healthy_canary_is_never_rolled_back():
    assert compare(Fault(0.001, 5, 100.0), trials=3) == {
        "soundbite": None, "flagger": None, "codedeploy": None}


def test_quick_plan_detects_the_rehearsals_faults_in_seconds():
    # the quick plan looks for 10-point regressions (its soaks are seconds long)
    assert compare(Fault(0.30, 25, 100.0), plan=quick_plan(), trials=3)["soundbite"] < 30
