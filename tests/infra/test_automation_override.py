"""The migration tool's Pulumi runs may move traffic for that run only: the override is in
the `pulumi` process's environment while it runs, and gone afterwards, even when it fails."""

from types import SimpleNamespace

import pytest

from infra.automation import PHASE_KEY, AutomationError, PulumiStack
from infra.traffic_guard import FROM_VARIABLE, OVERRIDE_VARIABLE


class StackWithWorkspace:
    """Stands for `pulumi.automation.Stack`: records the environment each run would see."""

    def __init__(self, fail: bool = False):
        self.workspace = SimpleNamespace(env_vars={"AWS_PROFILE": "ops"})
        self.config = {PHASE_KEY: "shift-25"}
        self.seen: list[dict] = []
        self.fail = fail

    def get_config(self, key):
        return SimpleNamespace(value=self.config[key])

    def _run(self):
        self.seen.append(dict(self.workspace.env_vars))
        if self.fail:
            raise RuntimeError("update failed")

    def preview(self, on_output=None):
        self._run()
        return SimpleNamespace(change_summary={"update": 2})

    def up(self, on_output=None):
        self._run()
        return SimpleNamespace(summary=SimpleNamespace(result="succeeded", resource_changes={"update": 2}))


def test_preview_and_up_carry_the_configured_phase_as_a_one_run_override():
    fake = StackWithWorkspace()
    stack = PulumiStack(fake, "prod")
    stack.preview()
    stack.up()
    assert [env[OVERRIDE_VARIABLE] for env in fake.seen] == ["shift-25", "shift-25"]
    assert fake.workspace.env_vars == {"AWS_PROFILE": "ops"}
    assert "soundbite:moveTrafficTo" not in fake.config


def test_a_failed_up_leaves_no_override_behind():
    fake = StackWithWorkspace(fail=True)
    with pytest.raises(AutomationError, match="update failed"):
        PulumiStack(fake, "prod").up()
    assert fake.seen[0][OVERRIDE_VARIABLE] == "shift-25"
    assert OVERRIDE_VARIABLE not in fake.workspace.env_vars


def test_the_share_a_move_was_decided_from_rides_along_for_that_run_only():
    fake = StackWithWorkspace()
    stack = PulumiStack(fake, "prod")
    stack.preview(moving_from=5)
    stack.up(moving_from=5)
    stack.up()
    assert [env.get(FROM_VARIABLE) for env in fake.seen] == ["5", "5", None]
    assert fake.workspace.env_vars == {"AWS_PROFILE": "ops"}
