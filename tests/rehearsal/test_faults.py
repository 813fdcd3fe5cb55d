"""`--fault` parsing: what the rehearsal accepts and the one-line reasons it refuses."""

import pytest

from migration.rehearsal.faults import Fault, FaultSyntaxError, parse_fault


@pytest.mark.parametrize(("text", "expected"), [
    ("fargate:errors=0.3", Fault("fargate", "errors", 0.3)),
    ("fargate:errors=0.3@25", Fault("fargate", "errors", 0.3, 25)),
    ("ec2:latency=400", Fault("ec2", "latency", 400.0)),
    ("fargate:crash@25", Fault("fargate", "crash", 0.0, 25)),
    ("fargate:worker-crash", Fault("fargate", "worker-crash")),
])
def test_accepted_faults(text, expected):
    assert parse_fault(text) == expected
    assert str(parse_fault(text)) == text


@pytest.mark.parametrize(("text", "reason"), [
    ("gcp:errors=0.3", "unknown lane"),
    ("fargate:explode=1", "unknown fault kind"),
    ("fargate:errors", "needs a value"),
    ("fargate:crash=3", "takes no value"),
    ("fargate:errors=1.5", "fraction"),
    ("fargate:errors=0.3@140", "percent"),
    ("fargate errors", "expected LANE:KIND"),
])
def test_refused_faults_say_why(text, reason):
    with pytest.raises(FaultSyntaxError, match=reason):
        parse_fault(text)


def test_a_weighted_fault_waits_for_its_weight():
    fault = parse_fault("fargate:errors=0.5@25")
    assert not fault.due(5)
    assert fault.due(25) and fault.due(50)
    assert parse_fault("fargate:errors=0.5").due(0)
