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


@pytest.fixture
def stack_alarms(aws_emulator):
    """The rehearsal's alarms, created in the emulator as the Pulumi program creates them."""
    if aws_emulator.kind != "ministack":
        pytest.skip("moto never evaluates alarms")
    import uuid

    from migration.edge_metrics import balancer_names
    from migration.health import AlarmStates
    from migration.rehearsal.wiring import create_alarms
    from migration.target import Target

    environment = f"a{uuid.uuid4().hex[:6]}"
    target = Target(stack="dev", environment=environment, **balancer_names(environment))
    cloudwatch = aws_emulator.client("cloudwatch")
    names = create_alarms(cloudwatch, target)
    return cloudwatch, environment, names, AlarmStates(target.alarms, cloudwatch)


def publish_slow(cloudwatch, environment, lane, latency_ms, seconds=5, per_second=150):
    """`per_second` requests a second on both lanes, `lane`'s at `latency_ms`: 150 a second for
    5 s is 750, past CloudWatch's 200 a period (x 3 periods) a p95 alarm needs to be evaluated."""
    import time

    from migration.edge_metrics import publish_lane_metrics

    now = time.time()
    for back in range(seconds, 0, -1):
        for each in ("ec2", "fargate"):
            slow = each == lane
            publish_lane_metrics(cloudwatch, each, per_second, 0,
                                 [latency_ms if slow else 20.0] * per_second, now - back,
                                 environment=environment)


def test_the_baseline_alarm_fault_fires_the_baseline_alarm_only_and_the_engine_holds_on_it(stack_alarms):
    """`ec2:alarm` slows the baseline; the emulator evaluates the stack's own p95 alarm on the
    edge's metrics, and only the baseline's goes to ALARM, which the engine holds on."""
    from migration.judge import Severity, classify_alarm
    from migration.rehearsal.injector import BASELINE_ALARM_LATENCY_MS

    cloudwatch, environment, names, states = stack_alarms
    assert len(names) == 7 and states.firing() == ()
    publish_slow(cloudwatch, environment, "ec2", BASELINE_ALARM_LATENCY_MS)
    assert states.firing() == (f"soundbite-{environment}-ec2-p95-latency",)
    assert classify_alarm(states.firing()[0]).severity is Severity.HOLD
    assert "ec2:alarm" not in ROLLS_BACK and SAFE_STATES["ec2:alarm"].startswith("held")


def test_a_slow_canary_fires_its_own_p95_alarm_which_is_critical(stack_alarms):
    from migration.judge import Severity, classify_alarm

    cloudwatch, environment, _names, states = stack_alarms
    publish_slow(cloudwatch, environment, "fargate", 900.0)
    assert states.firing() == (f"soundbite-{environment}-fargate-p95-latency",)
    assert classify_alarm(states.firing()[0]).severity is Severity.CRITICAL


def test_a_p95_alarm_ignores_a_window_with_too_few_requests_for_a_p95(stack_alarms):
    """A canary at 5 % of thin traffic: 100 slow requests are too few for CloudWatch's p95
    (fewer than 200 a period), so the alarm keeps its state; the judge's statistics decide."""
    cloudwatch, environment, _names, states = stack_alarms
    publish_slow(cloudwatch, environment, "fargate", 900.0, per_second=20)
    assert states.firing() == ()
    described = cloudwatch.describe_alarms(AlarmNames=[f"soundbite-{environment}-fargate-p95-latency"])
    assert described["MetricAlarms"][0]["StateValue"] == "INSUFFICIENT_DATA"


def publish_errors(cloudwatch, environment, lane, errors=0, balancer_errors=0, requests=20, seconds=5):
    import time

    from migration.edge_metrics import publish_lane_metrics

    now = time.time()
    for back in range(seconds, 0, -1):
        for each in ("ec2", "fargate"):
            sick = each == lane
            publish_lane_metrics(cloudwatch, each, requests if sick else 20, errors if sick else 0,
                                 [20.0] * 20, now - back, environment=environment,
                                 balancer_errors=balancer_errors if sick else 0)


def test_canary_5xx_fire_its_error_rate_alarm_through_the_spec_metric_math(stack_alarms):
    """The spec's error-rate alarm is metric math over the balancer's counts; the emulator
    evaluates it, and only the sick lane's alarm fires."""
    from migration.judge import Severity, classify_alarm

    cloudwatch, environment, _names, states = stack_alarms
    publish_errors(cloudwatch, environment, "fargate", errors=0)
    assert states.firing() == ()  # both lanes healthy: every alarm evaluated to OK, none firing
    publish_errors(cloudwatch, environment, "fargate", errors=6)  # 6 of 20 requests: 30 %
    assert states.firing() == (f"soundbite-{environment}-fargate-error-rate",)
    assert classify_alarm(states.firing()[0]).severity is Severity.CRITICAL


def test_a_dead_canarys_balancer_errors_fire_its_alarm_without_any_target_request(stack_alarms):
    cloudwatch, environment, _names, states = stack_alarms
    publish_errors(cloudwatch, environment, "fargate", requests=0, balancer_errors=10)
    assert states.firing() == (f"soundbite-{environment}-fargate-error-rate",)


def test_a_baseline_error_rate_below_the_spec_threshold_stays_ok(stack_alarms):
    """1 error in 200 requests (0.5 %) is under the spec's 1 %: the alarm stays OK."""
    cloudwatch, environment, names, states = stack_alarms
    publish_errors(cloudwatch, environment, "ec2", errors=0, requests=40)
    publish_errors(cloudwatch, environment, "ec2", errors=1, requests=200, seconds=1)
    assert states.firing() == ()
    described = cloudwatch.describe_alarms(AlarmNames=[f"soundbite-{environment}-ec2-error-rate"])
    assert described["MetricAlarms"][0]["StateValue"] == "OK"


def test_a_canary_latency_fault_past_the_objective_steps_back_and_holds():
    assert parse_fault("fargate:latency=400@25").steps_back
    assert not parse_fault("fargate:latency=400@25").rolls_back
    assert not parse_fault("fargate:latency=200@25").steps_back
    assert not parse_fault("ec2:latency=400").steps_back


def test_an_error_fault_from_the_start_is_held_at_validate_and_from_a_shift_rolled_back():
    assert not parse_fault("fargate:errors=0.3").rolls_back
    assert parse_fault("fargate:errors=0.3@5").rolls_back
