"""Plans are data: built-in ones, files, and the plans that are refused."""

import json

import pytest

from migration.exceptions import PlanError
from migration.plan import default_plan, quick_plan
from migration.schemas import load_plan, plan_from_mapping


def test_default_plan_timeline_counts_every_wait():
    plan = default_plan()
    rows = plan.timeline()
    assert [r["step"] for r in rows] == ["validate", "shift-5", "shift-25", "shift-50", "shift-100"]
    assert rows[-1]["approval"] is True
    assert plan.expected_seconds() == 5 * 600 + 4 * (60 + 60)
    assert [r["step"] for r in plan.timeline(from_percent=25)] == ["shift-50", "shift-100"]


def test_quick_plan_takes_seconds():
    plan = quick_plan()
    assert plan.expected_seconds() < 60
    assert plan.steps[0].is_validation


def test_all_zero_plan_is_refused():
    with pytest.raises(PlanError, match="steps.0: .*weights would all be zero"):
        plan_from_mapping({"steps": [{"weights": {"ec2": 0, "fargate": 0}}, 100]})


@pytest.mark.parametrize("steps", [[50, 25, 100], [5, 50], [0, 100], []])
def test_bad_steps_are_refused(steps):
    with pytest.raises(PlanError):
        plan_from_mapping({"steps": steps})


def test_unknown_keys_are_refused():
    with pytest.raises(PlanError, match="soak: unknown key"):
        plan_from_mapping({"soak": 5})


def test_plan_file_yaml_and_json(tmp_path):
    (tmp_path / "p.yaml").write_text(
        "name: canary\nvalidate: true\nsoak_seconds: 120\nsteps: [10, {percent: 100, approval: true}]\n"
        "judge: {min_requests: 200}\n")
    plan = load_plan(str(tmp_path / "p.yaml"))
    assert [s.name for s in plan.steps] == ["validate", "shift-10", "shift-100"]
    assert plan.judge.min_requests == 200 and plan.steps[2].approval
    (tmp_path / "p.json").write_text(json.dumps({"steps": [{"weights": {"ec2": 1, "fargate": 1}}, 100]}))
    assert load_plan(str(tmp_path / "p.json")).steps[0].percent == 50
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(PlanError, match="cannot parse"):
        load_plan(str(tmp_path / "bad.json"))
