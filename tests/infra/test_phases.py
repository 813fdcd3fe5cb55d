"""The phase table's invariants hold for the default plan and for other step lists."""

import pytest

from infra import phases
from infra.phases import Capacity, build_phases

STEP_LISTS = [(5, 25, 50, 100), (100,), (1, 2, 3, 50, 99, 100), (10, 100)]


@pytest.mark.parametrize("steps", STEP_LISTS)
def test_weights_never_all_zero_while_a_record_exists(steps):
    for phase in build_phases(steps):
        weights = phase.weights
        assert weights, phase.name
        assert sum(weights.values()) > 0, phase.name


@pytest.mark.parametrize("steps", STEP_LISTS)
def test_ec2_exists_until_complete_and_fargate_dark_before_shift(steps):
    table = build_phases(steps)
    names = [p.name for p in table]
    complete = names.index("complete")
    for phase in table[: complete + 1]:
        assert phase.ec2.exists, phase.name
    first_shift = next(p.index for p in table if p.is_shift)
    for phase in table[:first_shift]:
        assert not phase.fargate.serves_public, phase.name


@pytest.mark.parametrize("steps", STEP_LISTS)
def test_worker_capacity_never_zero_across_stacks(steps):
    for phase in build_phases(steps, Capacity(3, 4), Capacity(2, 2)):
        assert phase.ec2.worker_count + phase.fargate.worker_count >= 1, phase.name


def test_default_table_order_and_weights():
    table = build_phases()
    assert [p.name for p in table] == [
        "ec2-only", "parallel", "validate", "shift-5", "shift-25", "shift-50", "shift-100",
        "complete", "decommission",
    ]
    assert phases.phase_named("shift-25").weights == {"ec2": 75, "fargate": 25}
    assert phases.phase_named("ec2-only").weights == {"ec2": 100}
    assert phases.phase_named("decommission").weights == {"fargate": 100}


def test_receiving_side_scales_with_its_weight():
    table = build_phases((5, 50, 100), Capacity(4, 4), Capacity(4, 4))
    assert phases.phase_named("shift-5", table).fargate.api_count == 1
    assert phases.phase_named("shift-50", table).fargate.api_count == 2
    assert phases.phase_named("shift-100", table).fargate.api_count == 4
    assert phases.phase_named("shift-100", table).ec2.api_count == 4  # kept warm for rollback


@pytest.mark.parametrize("bad", [(), (0, 100), (50, 25, 100), (25, 50), (50, 50, 100), (5, 101)])
def test_bad_step_lists_are_refused(bad):
    with pytest.raises(ValueError):
        build_phases(bad)


def test_unknown_phase_names_the_known_ones():
    with pytest.raises(phases.UnknownPhaseError, match="shift-5"):
        phases.phase_named("shift-7")
