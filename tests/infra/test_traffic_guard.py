"""The program guards live traffic (issue 17, point 4): `pulumi up` with a phase that Route 53
no longer agrees with refuses before it changes anything, a rollback cannot be undone by a
stale config, the explicit override is one run's, and from `complete` the EC2 API group keeps
what a rollback stands on."""

import json

import pulumi
import pytest

from infra import config, phases
from infra.live_traffic import abort_from_item, ledger_absent, ledger_key
from infra.traffic_guard import (
    FROM_VARIABLE,
    REFUSAL_MARKER,
    LiveTraffic,
    TrafficGuardError,
    check_traffic,
    ec2_shape,
    live_weights,
)
from tests.infra.pulumi_mocks import (
    BASE_CONFIG,
    REGION,
    UNREADABLE,
    RecordingMocks,
    program_for,
    run_program,
)

TABLE = phases.build_phases()
ALL_ON_EC2 = {"ec2": 100, "fargate": 0}
ALL_ON_FARGATE = {"ec2": 0, "fargate": 100}
ABORTED = {"status": "aborted", "weights": ALL_ON_EC2,
           "abort": {"by": "oncall@host", "at": 1700000000, "reason": "p95 regression"}}
RECORD = "aws:route53/record:Record"


def phase(name):
    return phases.phase_named(name, TABLE)


def _weighted(run) -> dict[str, int]:
    return {r.inputs["setIdentifier"]: int(r.inputs["weightedRoutingPolicies"][0]["weight"])
            for r in run.mocks.of_type(RECORD) if r.inputs.get("setIdentifier")}


def _refused(phase_name: str, live, ledger=None, moving_from=None, **overrides) -> tuple[str, RecordingMocks]:
    """Run the program expecting the guard to stop it; returns its message and the mocks.
    `moving_from` is what the tool's one-run environment says the move was decided from."""
    from infra import __main__ as program

    cfg = config.from_values({**BASE_CONFIG, "migrationPhase": phase_name, **overrides}, REGION,
                             environ_from=moving_from)
    mocks = RecordingMocks(live=live, ledger=ledger, api_name=cfg.api_name)
    with pytest.raises(pulumi.RunError) as caught:
        run_program(program.build, cfg, mocks=mocks)
    return str(caught.value), mocks


# --- the rule, as plain data ------------------------------------------------------------------


def test_a_first_deploy_and_an_agreeing_config_pass():
    check_traffic(phase("ec2-only"), LiveTraffic(), None)
    check_traffic(phase("validate"), LiveTraffic(ALL_ON_EC2), None)
    check_traffic(phase("shift-25"), LiveTraffic({"ec2": 75, "fargate": 25}), None)
    check_traffic(phase("complete"), LiveTraffic(ALL_ON_FARGATE), None)


def test_a_stale_phase_after_a_rollback_is_refused_and_says_what_to_do():
    with pytest.raises(TrafficGuardError) as caught:
        check_traffic(phase("shift-25"), LiveTraffic(ALL_ON_EC2), None)
    message = str(caught.value)
    assert "Route 53 sends 0% to Fargate (ec2 100 / fargate 0)" in message
    assert "would make it 25%" in message
    assert "soundbite migrate reconcile" in message and "pulumi up --refresh" in message
    assert "pulumi config set soundbite:moveTrafficTo shift-25" in message


def test_the_override_moves_traffic_only_for_its_own_phase_and_only_once():
    check_traffic(phase("shift-25"), LiveTraffic({"ec2": 95, "fargate": 5}), "shift-25")
    with pytest.raises(TrafficGuardError, match="does not match soundbite:migrationPhase=shift-50"):
        check_traffic(phase("shift-50"), LiveTraffic({"ec2": 75, "fargate": 25}), "shift-25")
    with pytest.raises(TrafficGuardError, match="remove the one-time soundbite:moveTrafficTo"):
        check_traffic(phase("shift-25"), LiveTraffic({"ec2": 75, "fargate": 25}), "shift-25")


def test_no_override_moves_traffic_while_the_ledger_says_rolled_back():
    live = LiveTraffic(ALL_ON_EC2, aborted="by oncall@host: p95 regression")
    with pytest.raises(TrafficGuardError, match="rolled back .by oncall@host: p95 regression.*retry"):
        check_traffic(phase("shift-25"), live, "shift-25")
    check_traffic(phase("validate"), live, None)  # the reconciled phase passes


def test_from_complete_the_ec2_api_group_keeps_what_a_rollback_needs():
    full = phases.Capacity(api=4, worker=3)
    table = phases.build_phases(ec2=full)
    complete = phases.phase_named("complete", table)
    assert complete.ec2.api_count == 1  # the phase alone would shrink it
    rolled_back = ec2_shape(complete, full, LiveTraffic(ALL_ON_EC2))
    assert (rolled_back.api_count, rolled_back.min_capacity) == (4, 4)
    aborted = ec2_shape(complete, full, LiveTraffic(ALL_ON_FARGATE, aborted="by x: y"))
    assert (aborted.api_count, aborted.min_capacity) == (4, 4)
    settled = ec2_shape(complete, full, LiveTraffic(ALL_ON_FARGATE))
    assert (settled.api_count, settled.min_capacity) == (1, 1)
    assert rolled_back.weight == 0 and rolled_back.worker_count == full.worker, \
        "the workers a rollback raises stay"
    unread = ec2_shape(complete, full, LiveTraffic(ALL_ON_FARGATE, ledger_unreadable="denied"))
    assert (unread.api_count, unread.worker_count) == (4, 3), "unknown whether rolled back: kept"


def test_a_ledger_that_cannot_be_read_refuses_a_raise_but_not_a_step_back():
    live = LiveTraffic({"ec2": 95, "fargate": 5}, ledger_unreadable="AccessDeniedException")
    with pytest.raises(TrafficGuardError, match="ledger could not be read .AccessDeniedException"):
        check_traffic(phase("shift-25"), live, "shift-25", moving_from=5)
    check_traffic(phase("shift-5"), live, None)  # moves nothing: nothing to know
    higher = LiveTraffic({"ec2": 75, "fargate": 25}, ledger_unreadable="AccessDeniedException")
    check_traffic(phase("shift-5"), higher, "shift-5", moving_from=25)  # a step back goes on


def test_only_a_missing_ledger_lets_route53_guard_alone():
    assert ledger_absent("reading DynamoDB Table Item (t): ResourceNotFoundException: Requested resource not found")
    assert ledger_absent("reading DynamoDB Table Item (t): empty result")
    assert not ledger_absent("GetItem, AccessDeniedException: not authorized")
    assert not ledger_absent("GetItem, ThrottlingException: Rate exceeded")


def test_live_weights_are_the_public_names_weighted_a_records_only():
    sets = [
        {"name": "api.dev.example.com.", "type": "A", "set_identifier": "ec2", "weight": 75},
        {"name": "API.dev.example.com.", "type": "A", "set_identifier": "fargate", "weight": 25},
        {"name": "ec2.api.dev.example.com.", "type": "A", "set_identifier": None, "weight": None},
        {"name": "api.dev.example.com.", "type": "TXT", "set_identifier": "ec2", "weight": 1},
        {"name": "other.dev.example.com.", "type": "A", "set_identifier": "ec2", "weight": 0},
    ]
    assert live_weights(sets, "api.dev.example.com") == {"ec2": 75, "fargate": 25}


def test_the_ledger_item_is_read_as_migration_ledger_writes_it():
    assert json.loads(ledger_key("prod")) == {"pk": {"S": "RUN#prod"}, "sk": {"S": "STATE"}}
    item = json.dumps({"pk": {"S": "RUN#prod"}, "sk": {"S": "STATE"}, "doc": {"S": json.dumps(ABORTED)}})
    assert abort_from_item(item) == "by oncall@host: p95 regression"
    promoted = json.dumps({"doc": {"S": json.dumps({"status": "promoted"})}})
    assert abort_from_item(promoted) is None and abort_from_item(None) is None


def test_the_one_run_override_and_the_config_key_cannot_disagree():
    values = {**BASE_CONFIG, "migrationPhase": "shift-5"}
    assert config.from_values(values, REGION, "shift-5").move_traffic_to == "shift-5"
    assert config.from_values({**values, "moveTrafficTo": "shift-5"}, REGION).move_traffic_to == "shift-5"
    with pytest.raises(config.ConfigError, match="disagree"):
        config.from_values({**values, "moveTrafficTo": "shift-5"}, REGION, "shift-25")


# --- the program, under mocks ---------------------------------------------------------------


def test_pulumi_up_with_the_old_phase_after_a_rollback_changes_nothing():
    message, mocks = _refused("shift-25", ALL_ON_EC2)
    assert "would make it 25%" in message
    assert "aws:route53/getRecords:getRecords" in mocks.calls
    assert not [r for r in mocks.resources if r.typ.startswith("aws:")], "refused before any resource"


def test_after_reconcile_the_program_writes_exactly_the_live_weights():
    run = program_for("validate", live=ALL_ON_EC2, ledger=ABORTED)
    assert _weighted(run) == ALL_ON_EC2 == run.exports["liveWeightsBefore"]


def test_the_override_lets_the_program_move_traffic_on_purpose():
    run = program_for("shift-25", live={"ec2": 95, "fargate": 5}, moveTrafficTo="shift-25")
    assert _weighted(run) == {"ec2": 75, "fargate": 25}


def test_the_program_refuses_to_move_traffic_when_the_ledger_read_is_denied():
    message, mocks = _refused("shift-25", {"ec2": 95, "fargate": 5}, ledger=UNREADABLE,
                              moving_from="5", moveTrafficTo="shift-25")
    assert message.startswith(REFUSAL_MARKER) and "AccessDeniedException" in message
    assert not [r for r in mocks.resources if r.typ.startswith("aws:route53/record")]
    same = program_for("shift-5", live={"ec2": 95, "fargate": 5}, ledger=UNREADABLE)
    assert _weighted(same) == {"ec2": 95, "fargate": 5}, "a run that moves nothing still deploys"


def test_the_override_does_not_undo_a_rollback_the_ledger_records():
    message, _ = _refused("shift-25", ALL_ON_EC2, ledger=ABORTED, moveTrafficTo="shift-25")
    assert "rolled back (by oncall@host: p95 regression)" in message


def _api_group(run):
    return run.mocks.named("ec2-api-asg").inputs


def test_from_complete_pulumi_up_does_not_shrink_ec2_while_rolled_back():
    # Someone sent traffic back to Fargate by hand after the rollback, config still complete:
    # the ledger's abort keeps EC2's API group at full capacity.
    run = program_for("complete", live=ALL_ON_FARGATE, ledger=ABORTED)
    assert (_api_group(run)["minSize"], _api_group(run)["desiredCapacity"]) == (2, 2)
    assert run.exports["ec2ApiCount"] == 2
    settled = program_for("complete", live=ALL_ON_FARGATE, ledger={"status": "promoted"})
    assert (_api_group(settled)["minSize"], _api_group(settled)["desiredCapacity"]) == (1, 1)


def test_a_move_decided_from_a_share_route53_no_longer_shows_is_refused():
    """The tool asked for 5% -> 25%; an operator's rollback (Route 53 only, its abort not
    recorded) put Fargate at 0 while `pulumi up` started: the program does not undo it."""
    with pytest.raises(TrafficGuardError, match="decided from 5% on Fargate: someone moved traffic since"):
        check_traffic(phase("shift-25"), LiveTraffic(ALL_ON_EC2), "shift-25", moving_from=5)
    check_traffic(phase("shift-25"), LiveTraffic({"ec2": 95, "fargate": 5}), "shift-25", moving_from=5)


def test_the_program_refuses_a_move_decided_from_a_share_route53_no_longer_shows():
    message, mocks = _refused("shift-25", ALL_ON_EC2, moving_from="5", moveTrafficTo="shift-25")
    assert "decided from 5%" in message
    assert not [r for r in mocks.resources if r.typ.startswith("aws:route53/record")]
    with pytest.raises(config.ConfigError, match=f"{FROM_VARIABLE} must be a Fargate share"):
        config.from_values({**BASE_CONFIG, "migrationPhase": "shift-25"}, REGION, "shift-25", "lots")
