"""`soundbite migrate reconcile` then `pulumi up --refresh` (runbooks/rollback.md): reconcile
picks the phase whose weights are the live ones, and the program then writes exactly those
weights, so the refreshed plan shows no change to the weighted records."""

from types import SimpleNamespace

import pytest

from infra import phases
from migration.exceptions import MigrationError
from migration.status import reconcile
from tests.infra.pulumi_mocks import program_for

TABLE = phases.build_phases()
RECORD = "aws:route53/record:Record"


class Config:
    def __init__(self, phase):
        self.phase = phase

    def get(self):
        return self.phase

    def set(self, phase):
        self.phase = phase
        return f"set soundbite:migrationPhase={phase} on stack dev"


def engine(live, configured, state=None):
    events = []
    return SimpleNamespace(
        stack="dev", phase_table=TABLE, phase_source=Config(configured),
        direct_router=SimpleNamespace(current=lambda: dict(live)),
        ledger=SimpleNamespace(read_state=lambda: state or {}, commit=lambda kind, **d: events.append(kind)),
        events=events)


def _weighted(run):
    return {r.inputs["setIdentifier"]: int(r.inputs["weightedRoutingPolicies"][0]["weight"])
            for r in run.mocks.of_type(RECORD) if r.inputs.get("setIdentifier")}


@pytest.mark.parametrize("stale", ["shift-5", "shift-50", "shift-100", "complete"])
def test_after_a_rollback_reconcile_then_up_leaves_the_live_weights_alone(stale):
    live = {"ec2": 100, "fargate": 0}
    e = engine(live, stale, {"status": "aborted"})
    result = reconcile(e)
    assert result["changed"] and e.phase_source.phase == "validate" and e.events == ["reconcile"]
    assert "pulumi up --refresh --stack dev" in result["detail"]
    run = program_for(result["phase"], live=live, ledger={"status": "aborted"})
    assert _weighted(run) == live
    ec2 = run.mocks.named("ec2-api-asg").inputs
    assert ec2["desiredCapacity"] == ec2["minSize"] == 2, "EC2 back at full capacity"


@pytest.mark.parametrize("live", [{"ec2": 75, "fargate": 25}, {"ec2": 0, "fargate": 100}])
def test_weights_moved_by_the_route53_router_are_what_the_reconciled_program_writes(live):
    e = engine(live, "validate")
    phase = reconcile(e)["phase"]
    assert _weighted(program_for(phase, live=live)) == live


def test_reconcile_refuses_while_a_shift_is_in_flight():
    pending = {"step": "shift-25", "before": {"ec2": 95, "fargate": 5}, "after": {"ec2": 75, "fargate": 25}}
    e = engine({"ec2": 95, "fargate": 5}, "shift-5", {"pending": pending})
    with pytest.raises(MigrationError, match="in flight"):
        reconcile(e)
    assert e.phase_source.phase == "shift-5"


def test_reconcile_refuses_without_live_records():
    with pytest.raises(MigrationError, match="no weighted records"):
        reconcile(engine({}, "validate"))
