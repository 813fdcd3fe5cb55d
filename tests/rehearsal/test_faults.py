"""`--fault` parsing: what the rehearsal accepts and the one-line reasons it refuses."""

import pytest

from migration.rehearsal.faults import ROLLS_BACK, SAFE_STATES, Fault, FaultSyntaxError, parse_fault


@pytest.mark.parametrize(("text", "expected"), [
    ("fargate:errors=0.3", Fault("fargate", "errors", 0.3)),
    ("fargate:errors=0.3@25", Fault("fargate", "errors", 0.3, 25)),
    ("ec2:latency=400", Fault("ec2", "latency", 400.0)),
    ("fargate:crash@25", Fault("fargate", "crash", 0.0, 25)),
    ("fargate:worker-crash", Fault("fargate", "worker-crash")),
    ("control:metrics=throttle@25", Fault("control", "metrics", "throttle", 25)),
    ("control:metrics=down@25", Fault("control", "metrics", "down", 25)),
    ("control:ledger=down@25", Fault("control", "ledger", "down", 25)),
    ("control:route53=slow@25", Fault("control", "route53", "slow", 25)),
    ("operator:rollback@25", Fault("operator", "rollback", 0.0, 25)),
    ("engine:crash@50", Fault("engine", "crash", 0.0, 50)),
    ("ec2:alarm@25", Fault("ec2", "alarm", 0.0, 25)),
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
    ("fargate:errors=x", "takes a number"),
    ("fargate:errors=0.3@140", "percent"),
    ("fargate errors", "expected SCOPE:KIND"),
    ("control:metrics=slow", "takes =throttle or =down"),
    ("control:queue=down", "unknown dependency"),
    ("operator:approve", "operator takes rollback"),
    ("engine:crash=1", "takes no value"),
    ("fargate:alarm", "fault of the baseline"),
])
def test_refused_faults_say_why(text, reason):
    with pytest.raises(FaultSyntaxError, match=reason):
        parse_fault(text)


def test_a_weighted_fault_waits_for_its_weight():
    fault = parse_fault("fargate:errors=0.5@25")
    assert not fault.due(5)
    assert fault.due(25) and fault.due(50)
    assert parse_fault("fargate:errors=0.5").due(0)


def test_control_plane_faults_are_started_by_the_canarys_weight():
    assert parse_fault("control:metrics=down@25").lane == "fargate"
    assert parse_fault("ec2:alarm@25").lane == "fargate"
    assert parse_fault("ec2:latency=400").lane == "ec2"
    assert not parse_fault("operator:rollback@25").on_lane


def test_every_fault_kind_documents_its_safe_state():
    kinds = ["fargate:errors=0.3", "fargate:latency=400", "fargate:crash", "fargate:worker-crash",
             "ec2:alarm", "control:metrics=throttle", "control:metrics=down", "control:ledger=down",
             "control:route53=slow", "operator:rollback", "engine:crash"]
    assert sorted(parse_fault(k).name for k in kinds) == sorted(SAFE_STATES)


def test_the_baseline_alarm_fault_fires_the_alarm_the_stack_creates_and_the_engine_holds_on_it():
    from infra.components.observability import stack_alarm_names
    from migration.judge import Severity, classify_alarm
    from migration.rehearsal.injector import BASELINE_ALARM
    from migration.target import Target

    target = Target(stack="dev", zone_id="Z1", record_name="api.example.com", environment="local")
    name = f"{target.alarms}{BASELINE_ALARM}"  # what the injector sets to ALARM

    assert name == stack_alarm_names("soundbite-local", "ec2")[0] == "soundbite-local-ec2-error-rate"
    assert classify_alarm(name).severity is Severity.HOLD
    assert "ec2:alarm" not in ROLLS_BACK and SAFE_STATES["ec2:alarm"].startswith("held")
