"""The Automation API path: a fake workspace stack that applies phases to the emulated Route 53."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from infra import automation, phases
from infra.automation import PHASE_KEY, PulumiStack, PulumiUnavailableError, select_stack
from migration.dns_setup import upsert_weighted_records
from migration.executor import Executor, Status
from migration.phase_source import PulumiConfigPhase
from migration.router import PulumiRouter
from migration.schemas import plan_from_mapping
from migration.status import config_drift, reconcile

from .conftest import EC2, FARGATE


class FakeWorkspaceStack:
    """Stands for `pulumi.automation.Stack`: config in memory, `up` writes the phase's weights."""

    def __init__(self, route53, zone_id, record, table):
        self.config: dict[str, str] = {}
        self.route53, self.zone_id, self.record, self.table = route53, zone_id, record, table
        self.ups = 0

    def get_config(self, key):
        if key not in self.config:
            raise RuntimeError(f"configuration key '{key}' not found for stack 'dev'")
        return SimpleNamespace(value=self.config[key])

    def set_config(self, key, value):
        self.config[key] = value.value

    def remove_config(self, key):
        self.config.pop(key, None)

    def preview(self, on_output=None):
        self.previews = getattr(self, "previews", 0) + 1
        return SimpleNamespace(change_summary={"update": 2, "same": 40})

    def up(self, on_output=None):
        self.ups += 1
        phase = phases.phase_named(self.config[PHASE_KEY], self.table)
        weights = {EC2: phase.weights.get(EC2, 0), FARGATE: phase.weights.get(FARGATE, 0)}
        upsert_weighted_records(self.route53, self.zone_id, self.record,
                                {EC2: "ec2.example.com", FARGATE: "fargate.example.com"}, weights)
        if on_output:
            on_output(f"phase {phase.name}: weights {weights}")
        return SimpleNamespace(summary=SimpleNamespace(result="succeeded",
                                                       resource_changes={"update": 2}))


class GuardedWorkspaceStack(FakeWorkspaceStack):
    """A fake whose program runs the real traffic guard, as `infra/__main__.py` does in every
    preview and up: on Route 53's live weights and the ledger's state, with the one-run
    environment the migration tool sets. `before_program` runs first (someone acting then)."""

    def __init__(self, route53, zone_id, record, table, ledger):
        super().__init__(route53, zone_id, record, table)
        self.ledger = ledger
        self.workspace = SimpleNamespace(env_vars={})
        self.before_program = lambda: None

    def _program(self) -> None:
        from infra.traffic_guard import (
            FROM_VARIABLE,
            OVERRIDE_VARIABLE,
            REFUSAL_MARKER,
            LiveTraffic,
            TrafficGuardError,
            check_traffic,
        )
        from migration.router import Route53WeightedRouter

        self.before_program()
        env = self.workspace.env_vars
        live = Route53WeightedRouter(self.zone_id, self.record, client=self.route53).current()
        state = self.ledger.read_state()
        aborted = state["abort"]["reason"] if state.get("status") == "aborted" else None
        moving_from = int(env[FROM_VARIABLE]) if env.get(FROM_VARIABLE) else None
        try:
            check_traffic(phases.phase_named(self.config[PHASE_KEY], self.table),
                          LiveTraffic(live, aborted), env.get(OVERRIDE_VARIABLE) or None, moving_from)
        except TrafficGuardError as exc:  # what the CLI's failed run reports
            raise RuntimeError(f"code: 255\n stderr: error: {REFUSAL_MARKER} {exc}") from None

    def preview(self, on_output=None):
        self._program()
        return super().preview(on_output)

    def up(self, on_output=None):
        self._program()
        return super().up(on_output)


@pytest.fixture
def pulumi_engine(make_engine, zone, route53):
    plan = plan_from_mapping({"name": "p", "soak_seconds": 3, "ttl_wait_seconds": 1,
                              "metric_lag_seconds": 1, "analysis_interval_seconds": 1,
                              "steps": [25, 100],
                              "judge": {"smallest_regression": 0.05, "min_requests": 20}})
    engine = make_engine(plan=plan)
    fake = FakeWorkspaceStack(route53, *zone, engine.phase_table)
    stack = PulumiStack(fake, "dev")
    stack.set_phase("validate")
    engine.router = PulumiRouter(stack, engine.direct_router, engine.phase_table)
    engine.phase_source = PulumiConfigPhase(stack)
    return engine, fake


def test_advance_via_pulumi_sets_the_phase_and_runs_up(pulumi_engine):
    engine, fake = pulumi_engine
    result = Executor(engine).advance()
    assert result.status is Status.PROMOTED
    assert fake.config[PHASE_KEY] == "shift-25" and fake.ups == 1
    assert fake.previews == 1, "the preview runs before every up"
    assert engine.direct_router.current() == {EC2: 75, FARGATE: 25}
    assert config_drift(engine, engine.direct_router.current())["drift"] is False


def test_the_pulumi_preview_is_shown_before_confirming_and_changes_nothing(pulumi_engine):
    from migration.cli import pulumi_preview_lines

    engine, fake = pulumi_engine
    engine.ledger.commit("seeded", state={"validated": True})
    lines = pulumi_preview_lines(engine)
    assert lines == ["pulumi preview of phase shift-25 (ec2 75 / fargate 25): 40 to same, 2 to update"]
    assert fake.previews == 1 and fake.ups == 0
    assert fake.config[PHASE_KEY] == "validate", "the stack's config is left as it was"
    assert engine.direct_router.current() == {EC2: 100, FARGATE: 0}
    assert pulumi_preview_lines(engine, to_percent=100)[0].startswith("pulumi preview of phase shift-100")


def test_a_preview_on_a_stack_with_no_phase_set_leaves_none_set(pulumi_engine):
    """Answering "no" after the preview must leave nothing behind for a plain `pulumi up`."""
    from migration.cli import pulumi_preview_lines

    engine, fake = pulumi_engine
    del fake.config[PHASE_KEY]
    engine.ledger.commit("seeded", state={"validated": True})
    pulumi_preview_lines(engine)
    assert fake.previews == 1 and PHASE_KEY not in fake.config


def test_rollback_bypasses_pulumi_then_reconcile_fixes_the_config(pulumi_engine):
    engine, fake = pulumi_engine
    Executor(engine).advance()
    Executor(engine).rollback("test")
    assert fake.ups == 1, "rollback went through Route 53 directly"
    live = engine.direct_router.current()
    assert live == {EC2: 100, FARGATE: 0}
    assert config_drift(engine, live)["drift"] is True
    assert reconcile(engine)["phase"] == "validate"
    assert fake.config[PHASE_KEY] == "validate"
    assert config_drift(engine, live)["drift"] is False


def test_missing_phase_reads_as_none(route53, zone):
    stack = PulumiStack(FakeWorkspaceStack(route53, *zone, phases.build_phases()), "dev")
    assert stack.get_phase() is None


def test_missing_pulumi_cli_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(PulumiUnavailableError, match="pulumi CLI is not installed"):
        select_stack("dev", str(tmp_path))


def test_config_set_command_is_exact():
    assert automation.config_set_command("prod", "shift-25") == (
        "pulumi config set soundbite:migrationPhase shift-25 --stack prod")
