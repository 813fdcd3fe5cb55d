"""The migration fails safe: every scenario of the fail-safe issue on the emulator.

Each test asserts where the traffic ends and what the ledger says: judged, held with a
stated reason, or back on EC2; an operator's rollback final; no traceback from any command.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from infra.automation import PHASE_KEY, PulumiStack
from migration.edge_metrics import target_fields as edge_target_fields
from migration.evidence import READ_ATTEMPTS
from migration.exceptions import (
    AbortedError,
    DriftError,
    LeaseLostError,
    LockHeldError,
    MigrationError,
    StoodDownError,
)
from migration.executor import Executor, Status
from migration.health import AsgHealth
from migration.ledger import Ledger
from migration.metrics import CloudWatchMetrics
from migration.router import PulumiRouter
from migration.target import Target
from soundbite import spec
from soundbite.exit_codes import ExitCode
from tests.signals import interruptible
from tests.waiting import wait_for

from .conftest import EC2, FARGATE
from .test_pulumi_path import FakeWorkspaceStack, GuardedWorkspaceStack

ALL_ON_EC2 = {EC2: 100, FARGATE: 0}
ROOT = Path(__file__).resolve().parents[2]


class Faulty:
    """A real boto3 client whose named operations fail (`code`) while `failing()` says so."""

    def __init__(self, client, operations: set[str], code: str = "Throttling",
                 failing=lambda: True):
        self._client, self.operations, self.code, self.failing = client, operations, code, failing
        self.failures = 0

    def __getattr__(self, name):
        attr = getattr(self._client, name)
        if name in self.operations and self.failing():
            def fail(*_args, **_kwargs):
                self.failures += 1
                raise ClientError({"Error": {"Code": self.code, "Message": "injected"}}, name)
            return fail
        return attr


def judge_breaks_at_look(monkeypatch, look: int, error: Exception) -> None:
    """The engine's judge raises `error` at its `look`-th call (a fault of our own)."""
    import migration.executor as executor

    real_judge, looks = executor.judge, {"n": 0}

    def broken_judge(*args, **kwargs):
        looks["n"] += 1
        if looks["n"] == look:
            raise error
        return real_judge(*args, **kwargs)

    monkeypatch.setattr(executor, "judge", broken_judge)


def after_the_first_move(monkeypatch) -> dict:
    """A flag that turns true once the run's first traffic move has landed (a dependency
    breaks from then on)."""
    moved: dict = {}
    original_move = Executor._move

    def move_then_mark(self, *args):
        original_move(self, *args)
        moved["yes"] = True

    monkeypatch.setattr(Executor, "_move", move_then_mark)
    return moved


def validated(engine) -> None:
    engine.ledger.commit("seeded", state=dict(promoted=["validate"]))


def kinds(engine) -> list[str]:
    return [e["kind"] for e in engine.ledger.events(500)]


def soundbite(*args: str, env: dict | None = None, timeout: float = 90) -> subprocess.CompletedProcess:
    """The real CLI in its own process, as an operator runs it."""
    return subprocess.run([sys.executable, "-m", "soundbite.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={**os.environ, "COLUMNS": "200", **(env or {})})


def plan_file(tmp_path, steps: list[int], soak: float, interval: float, extension: float) -> str:
    """A plan for the CLI in a subprocess: no DNS or metric-lag waits, the given soak."""
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({"name": "test", "steps": steps, "soak_seconds": soak,
                                "ttl_wait_seconds": 0, "metric_lag_seconds": 0,
                                "analysis_interval_seconds": interval,
                                "max_soak_extension_seconds": extension}))
    return str(path)


@pytest.fixture
def target_file(tmp_path, zone, fresh_data_plane):
    def write(**extra) -> str:
        zone_id, record = zone
        path = tmp_path / "target.json"
        path.write_text(json.dumps({"stack": "dev", "zone_id": zone_id, "record_name": record,
                                    "environment": fresh_data_plane.environment,
                                    **edge_target_fields(fresh_data_plane.environment), **extra}))
        return str(path)

    return write


# --- steps are durable -----------------------------------------------------------------------


def test_a_held_step_is_soaked_again_never_skipped(make_engine, traffic):
    engine = make_engine()
    validated(engine)
    traffic().rate = 0
    first = Executor(engine).advance()
    assert first.status is Status.HELD and first.step == "shift-5"
    assert engine.router.current() == {EC2: 95, FARGATE: 5}
    assert engine.ledger.read_state()["steps"]["shift-5"]["outcome"] == "held"
    traffic().rate = 100
    second = Executor(engine).advance()
    assert (second.status, second.step) == (Status.PROMOTED, "shift-5"), "judged again, not skipped"
    assert engine.router.current() == {EC2: 95, FARGATE: 5}
    assert "resoak" in kinds(engine)
    assert engine.ledger.read_state()["promoted"] == ["validate", "shift-5"]
    third = Executor(engine).advance()
    assert (third.status, third.step) == (Status.PROMOTED, "shift-25")


def interrupt_when(engine, condition) -> None:
    """Ctrl-C (KeyboardInterrupt) at the first of the engine's sleeps where `condition()` holds."""
    sleep = engine.sleep

    def interrupting(seconds: float) -> None:
        if condition():
            raise KeyboardInterrupt
        sleep(seconds)

    engine.sleep = interrupting


def test_an_interrupt_mid_soak_holds_with_its_reason_and_resume_judges_on_at_once(make_engine):
    engine = make_engine()
    validated(engine)
    interrupt_when(engine, lambda: "verdict" in kinds(engine))

    with pytest.raises(KeyboardInterrupt):
        Executor(engine).advance()

    assert engine.router.current() == {EC2: 95, FARGATE: 5}
    state = engine.ledger.read_state()
    assert state["status"] == "held" and state["steps"]["shift-5"]["outcome"] == "held"
    assert "interrupted during shift-5" in state["reason"] and "5% on Fargate" in state["reason"]
    # the lock was released with the hold: a resume need not wait for the lease to run out
    resumed = Executor(make_engine()).resume()
    assert (resumed.status, resumed.step) == (Status.PROMOTED, "shift-5")


def test_a_resume_whose_target_names_no_metrics_rolls_back_rather_than_wait_unjudged(make_engine):
    """Traffic is on Fargate and the target file lost its load balancer names: every look is an
    `error` naming why, and the run rolls back after the limit, never 'too few requests'."""
    engine = make_engine()
    validated(engine)
    interrupt_when(engine, lambda: "verdict" in kinds(engine))
    with pytest.raises(KeyboardInterrupt):
        Executor(engine).advance()
    assert engine.router.current() == {EC2: 95, FARGATE: 5}

    blind = make_engine(metrics=None, metrics_problem=Target(stack="dev").metrics_problem)
    result = Executor(blind).resume()
    assert result.status is Status.ROLLED_BACK, result.reason
    assert blind.router.current() == ALL_ON_EC2
    errors = [v for v in result.verdicts if v["outcome"] == "error"]
    assert len(errors) == blind.plan.consecutive_error_limit
    assert "load_balancers" in errors[-1]["reason"]


def test_a_resume_that_cannot_write_the_ledger_rolls_back_rather_than_exit_unjudged(make_engine, boto_session):
    """The crashed run left 5 % on Fargate; its successor takes the lease, but the ledger then
    refuses writes (throttled): resume rolls back through Route 53 instead of exiting 1 with
    the canary unjudged, and says the abort could not be written."""
    engine = make_engine()
    validated(engine)
    interrupt_when(engine, lambda: "verdict" in kinds(engine))
    with pytest.raises(KeyboardInterrupt):
        Executor(engine).advance()
    assert engine.router.current() == {EC2: 95, FARGATE: 5}

    successor = make_engine()
    successor.ledger._client = Faulty(boto_session.client("dynamodb"), {"transact_write_items"},
                                      code="ThrottlingException")
    result = Executor(successor).resume()
    assert result.status is Status.ROLLED_BACK, result.reason
    assert successor.router.current() == ALL_ON_EC2
    assert "rolled back rather than leave Fargate unjudged" in result.reason
    assert any("abort was not recorded" in w for w in result.warnings)


def test_a_resume_that_finds_the_baseline_sick_holds_even_when_the_ledger_then_fails(
        make_engine, boto_session, cloudwatch, fresh_data_plane):
    """EC2's own alarm is in ALARM and the ledger refuses writes: resume holds with both
    reasons; failing safe never means rolling back onto the sick baseline."""
    engine = make_engine()
    validated(engine)
    interrupt_when(engine, lambda: "verdict" in kinds(engine))
    with pytest.raises(KeyboardInterrupt):
        Executor(engine).advance()
    name = f"soundbite-{fresh_data_plane.environment}-ec2-error-rate"
    cloudwatch.put_metric_alarm(AlarmName=name, MetricName="m", Namespace="X", Statistic="Sum", Period=60,
                                EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold")
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="test")
    successor = make_engine()
    successor.ledger._client = Faulty(boto_session.client("dynamodb"), {"transact_write_items"},
                                      code="ThrottlingException")
    result = Executor(successor).resume()
    assert result.status is Status.HELD and name in result.reason and "could not record" in result.reason
    assert successor.router.current() == {EC2: 95, FARGATE: 5}, "not rolled back onto the sick EC2"


def test_an_interrupt_that_cuts_the_judges_rollback_short_never_lets_traffic_back_on_fargate(
        make_engine, traffic):
    """Route 53 is back on EC2, the abort not yet written: the interrupt must not record a hold
    that the next advance would read as 'continue from the last promoted step'."""
    engine = make_engine()
    validated(engine)
    traffic().fault = lambda w: {FARGATE: 0.30} if w.get(FARGATE, 0) >= 5 else {}

    write, read, landed = engine.direct_router.set_weights, engine.direct_router.current, []

    def rollback_lands(weights, expect=None):
        changed = write(weights, expect=expect)
        landed.append(weights == ALL_ON_EC2)
        return changed

    def interrupted_read():
        if landed and landed[-1]:  # the rollback's read-back, after its change landed
            landed.append(False)
            raise KeyboardInterrupt
        return read()

    engine.direct_router.set_weights, engine.direct_router.current = rollback_lands, interrupted_read
    with pytest.raises(KeyboardInterrupt):
        Executor(engine).advance()
    assert engine.direct_router.current() == ALL_ON_EC2
    assert engine.ledger.read_state()["status"] != "held"

    later = make_engine()
    with pytest.raises(DriftError, match="differ from the last weights"):
        Executor(later).advance()
    assert later.router.current() == ALL_ON_EC2, "nothing moved traffic back onto the failed canary"


def test_an_operators_rollback_then_an_interrupt_of_the_run_leaves_the_rollback_final(make_engine):
    """The second operator acts mid-soak; the run is then interrupted: its hold must not be
    written over the abort, nor its lease release undo anything."""
    engine = make_engine()
    validated(engine)

    def operator_rolled_back() -> bool:
        if "verdict" not in kinds(engine):
            return False
        Executor(make_engine()).rollback("clients see 5xx")
        return True

    interrupt_when(engine, operator_rolled_back)
    with pytest.raises(KeyboardInterrupt):
        Executor(engine).advance()

    assert engine.router.current() == ALL_ON_EC2
    state = engine.ledger.read_state()
    assert state["status"] == "aborted" and state["abort"]["reason"] == "clients see 5xx"
    with pytest.raises(AbortedError, match="clients see 5xx"):
        Executor(make_engine()).advance()


def test_an_interrupt_while_route53_throttles_still_holds_with_its_reason(make_engine, route53):
    """Route 53 cannot say where traffic is: the hold is written anyway (the ledger keeps the
    weights it knows), never a silent stop with Fargate unjudged."""
    engine = make_engine()
    validated(engine)
    throttled = {"on": False}
    engine.direct_router._client = Faulty(route53, {"get_paginator"}, failing=lambda: throttled["on"])

    def throttle() -> bool:
        throttled["on"] = "verdict" in kinds(engine)
        return throttled["on"]

    interrupt_when(engine, throttle)
    with pytest.raises(KeyboardInterrupt):
        Executor(engine).advance()

    state = engine.ledger.read_state()
    assert state["status"] == "held" and "interrupted during shift-5" in state["reason"]
    assert "unknown share" in state["reason"] and "Throttling" in state["reason"]
    assert state["weights"] == {EC2: 95, FARGATE: 5}, "the ledger kept the weights it knew"
    throttled["on"] = False
    assert engine.router.current() == {EC2: 95, FARGATE: 5}
    assert Executor(make_engine()).resume().status is Status.PROMOTED


def test_an_interrupt_while_the_ledger_is_unreachable_still_stops_as_an_interrupt(
        make_engine, boto_session):
    """Nothing can be written: the interrupt still surfaces as one (exit 130, not a DynamoDB
    error), Route 53 is untouched, and the lease is left to expire for `resume`."""
    from botocore.config import Config

    engine = make_engine()
    validated(engine)
    dead = boto_session.client("dynamodb", endpoint_url="http://127.0.0.1:9",
                               config=Config(retries={"max_attempts": 1}, connect_timeout=1))

    def ledger_gone() -> bool:
        if "verdict" not in kinds(engine):
            return False
        engine.ledger._client = dead
        return True

    interrupt_when(engine, ledger_gone)
    with pytest.raises(KeyboardInterrupt):
        Executor(engine).advance()
    assert engine.router.current() == {EC2: 95, FARGATE: 5}


def test_an_internal_error_mid_soak_rolls_back_instead_of_leaving_fargate_unjudged(
        make_engine, monkeypatch):
    engine = make_engine()
    validated(engine)
    judge_breaks_at_look(monkeypatch, 2, TypeError("unsupported operand type(s) for +: 'NoneType' and 'int'"))
    result = Executor(engine).advance()

    assert result.status is Status.ROLLED_BACK
    assert "internal error (TypeError)" in result.reason and "unjudged" in result.reason
    assert engine.router.current() == ALL_ON_EC2


def test_a_rollback_that_fails_too_is_recorded_aborted_and_told(make_engine, monkeypatch, route53):
    """The judge breaks, then Route 53 refuses the rollback's change: the run cannot make
    traffic safe, so it records the migration aborted (nothing advances onto the canary) and
    tells the rollback hooks, instead of only raising."""
    events = []
    engine = make_engine()
    engine.on_event = events.append
    validated(engine)
    judge_breaks_at_look(monkeypatch, 2, TypeError("broken"))
    shifted = after_the_first_move(monkeypatch)
    engine.direct_router._client = Faulty(route53, {"change_resource_record_sets"},
                                          code="ServiceUnavailable", failing=lambda: bool(shifted))
    with pytest.raises(MigrationError, match="the rollback failed too"):
        Executor(engine).advance()
    assert engine.router.current() == {EC2: 95, FARGATE: 5}
    state = engine.ledger.read_state()
    assert state["status"] == "aborted" and "rollback failed too" in state["abort"]["reason"]
    told = [e for e in events if e["kind"] == "rollback"]
    assert told and told[-1]["failed"] is True and "soundbite migrate rollback" in told[-1]["reason"]
    with pytest.raises(AbortedError):
        Executor(make_engine()).advance()


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_advance_stopped_by_a_signal_exits_130_in_one_line_and_holds(make_engine, target_file,
                                                                      tmp_path, sig):
    import signal

    from tests.waiting import wait_for

    engine = make_engine(traffic=False)
    validated(engine)
    plan = plan_file(tmp_path, [5, 100], soak=600, interval=0.2, extension=0)
    process = subprocess.Popen(
        [sys.executable, "-m", "soundbite.cli", "migrate", "advance", "--config", target_file(),
         "--plan", plan, "--yes"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=ROOT, env={**os.environ, "COLUMNS": "200"}, preexec_fn=interruptible)
    try:
        wait_for(lambda: process.poll() is not None or "verdict" in kinds(engine), timeout=60,
                 what="the soak's first verdict")
        process.send_signal(getattr(signal, sig))
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()

    assert process.returncode == ExitCode.INTERRUPTED, stderr
    assert "Traceback" not in stderr
    assert [line for line in stderr.splitlines() if line.startswith("interrupted:")], stderr
    state = engine.ledger.read_state()
    assert state["status"] == "held" and "interrupted during shift-5" in state["reason"]
    assert engine.router.current() == {EC2: 95, FARGATE: 5}
    assert engine.ledger.holder() is None, "the lock was released"


# --- an operator's rollback is final ----------------------------------------------------------


def test_operator_rollback_during_a_pulumi_up_is_final(make_engine, zone, route53, target_file):
    """The operator's rollback (another process) lands while `pulumi up` runs; the up then
    writes its weights anyway; the run undoes them and stands down."""
    engine = make_engine()
    validated(engine)
    fake = FakeWorkspaceStack(route53, *zone, engine.phase_table)
    stack = PulumiStack(fake, "dev")
    stack.set_phase("validate")
    rolled_back = {}
    original_up = fake.up

    def slow_up(on_output=None):
        # the operator acts while pulumi works; pulumi then writes the stale phase's weights
        rolled_back["cli"] = soundbite("migrate", "rollback", "--config", target_file(), "--yes",
                                       "--reason", "clients see 5xx")
        return original_up(on_output)

    fake.up = slow_up
    engine.router = PulumiRouter(stack, engine.direct_router, engine.phase_table)
    with pytest.raises(LeaseLostError):
        Executor(engine).advance()
    assert rolled_back["cli"].returncode == ExitCode.OK, rolled_back["cli"].stderr
    assert engine.direct_router.current() == ALL_ON_EC2, "the in-flight up did not undo the rollback"
    state = engine.ledger.read_state()
    assert state["status"] == "aborted" and state["abort"]["reason"] == "clients see 5xx"
    assert "in-flight-undone" in kinds(engine)
    with pytest.raises(AbortedError, match="clients see 5xx"):
        Executor(make_engine()).advance()


def guarded_pulumi(engine, zone, route53) -> GuardedWorkspaceStack:
    fake = GuardedWorkspaceStack(route53, *zone, engine.phase_table, engine.ledger)
    stack = PulumiStack(fake, "dev")
    stack.set_phase("validate")
    engine.router = PulumiRouter(stack, engine.direct_router, engine.phase_table)
    return fake


def test_a_pulumi_up_the_program_refuses_after_an_operators_rollback_stands_down(
        make_engine, zone, route53, target_file):
    """The operator's rollback lands after the run checked Route 53 and before the program ran
    (5 % -> 25 %): the program's guard refuses, and the run stands down (exit 6, as a takeover),
    not an error, and not a second rollback over the first."""
    engine = make_engine()
    validated(engine)
    fake = guarded_pulumi(engine, zone, route53)
    Executor(engine).advance()  # to 5 %
    rolled_back = {}

    def operator_acts():
        if not rolled_back:
            rolled_back["cli"] = soundbite("migrate", "rollback", "--config", target_file(), "--yes",
                                           "--reason", "clients see 5xx")

    fake.before_program = operator_acts
    with pytest.raises(StoodDownError, match="refused by the program.*rolled back"):
        Executor(engine).advance()
    assert rolled_back["cli"].returncode == ExitCode.OK, rolled_back["cli"].stderr
    assert engine.direct_router.current() == ALL_ON_EC2 and fake.ups == 1, "only the 5 % up ran"
    state = engine.ledger.read_state()
    assert state["status"] == "aborted" and state["abort"]["reason"] == "clients see 5xx"
    assert fake.config[PHASE_KEY] == "shift-5", "the refused phase was not left in the config"


def test_a_pulumi_up_the_program_refuses_after_a_hand_edit_holds_for_a_person(make_engine, zone, route53):
    """Someone set 90/10 by hand while the run was deciding 5 % -> 25 %: the program refuses
    (the move was decided from 5 %), and the run holds with the reason; it never rolls back
    over a person's change."""
    engine = make_engine()
    validated(engine)
    fake = guarded_pulumi(engine, zone, route53)
    Executor(engine).advance()
    by_hand = {EC2: 90, FARGATE: 10}
    fake.before_program = lambda: engine.direct_router.current() == by_hand or (
        engine.direct_router.set_weights(by_hand))
    with pytest.raises(StoodDownError, match="decided from 5%"):
        Executor(engine).advance()
    assert engine.direct_router.current() == by_hand
    state = engine.ledger.read_state()
    assert state["status"] == "held" and "refused by the program" in state["reason"]
    assert "rollback" not in kinds(engine)


def test_a_run_taken_over_mid_soak_stands_down_without_touching_traffic(make_engine, clock):
    engine = make_engine(owner="run-a")
    validated(engine)
    operator = make_engine(owner="oncall", traffic=False)
    takeover_at = clock.t + 5  # during the shift-5 soak

    def take(start, end):
        if start < takeover_at <= end:
            Executor(operator).rollback("operator says no")

    clock.listeners.append(take)
    with pytest.raises(LeaseLostError):
        Executor(engine).run()
    assert engine.router.current() == ALL_ON_EC2
    events = engine.ledger.events(500)
    after = events[[e["kind"] for e in events].index("rollback") + 1:]
    assert [e for e in after if e.get("runId") == "run-a"] == [], "the old run wrote nothing after"


@pytest.mark.timeout(120)
def test_an_operator_rollback_while_synthetic_top_up_is_in_flight_is_final(make_engine, traffic, clock):
    """The thin canary is topped up; its transactions are stuck at a gate (a slow canary) when
    the operator rolls back. The run keeps judging, stands down at its next write, and nothing
    the stuck transactions do afterwards moves traffic."""
    from migration.plan import quick_plan
    from migration.synthetic import Transaction

    gate, at_gate = threading.Event(), threading.Event()

    class Stuck:
        def transaction(self):
            at_gate.set()
            gate.wait(60)
            return Transaction(FARGATE, True, "done", "released late", requests=3)

    engine = make_engine(owner="run-a", plan=quick_plan(), direct_clients={FARGATE: Stuck()})
    traffic().rate = 20  # one real canary request a second at 5 %: the judge asks for more
    validated(engine)
    operator = make_engine(owner="oncall", traffic=False)

    def roll_back_once_topped_up(_start, _end):
        if at_gate.is_set() and not operator.ledger.read_state().get("abort"):
            Executor(operator).rollback("operator says no")

    clock.listeners.append(roll_back_once_topped_up)
    try:
        with pytest.raises(LeaseLostError):
            Executor(engine).advance()
    finally:
        gate.set()
    assert engine.router.current() == ALL_ON_EC2
    assert engine.ledger.read_state()["status"] == "aborted"
    with pytest.raises(AbortedError, match="operator says no"):
        Executor(make_engine(owner="run-b")).advance()


def test_after_a_rollback_every_move_is_refused_until_retry(make_engine, target_file):
    engine = make_engine()
    validated(engine)
    Executor(engine).advance()
    Executor(engine).rollback("bad build")
    config = target_file()
    for command in (["advance", "--yes"], ["run", "--yes"], ["shift", "--to", "50", "--yes"],
                    ["resume", "--yes"]):
        result = soundbite("migrate", *command, "--config", config)
        assert result.returncode == ExitCode.REFUSED, (command, result.stderr)
        assert "aborted by" in result.stderr and "bad build" in result.stderr
        assert "Traceback" not in result.stderr
    status = json.loads(soundbite("migrate", "status", "--config", config, "--json").stdout)
    assert status["run_status"] == "aborted" and status["abort"]["reason"] == "bad build"
    assert status["abort"]["by"] and status["abort"]["at"]
    assert "ABORTED by" in soundbite("migrate", "status", "--config", config).stdout
    retry = soundbite("migrate", "retry", "--config", config, "--yes", "--json")
    assert retry.returncode == ExitCode.OK and json.loads(retry.stdout)["status"] == "ready"
    again = Executor(make_engine()).advance()
    assert again.step == "validate", "a retried migration starts from validate"


# --- the lease outlives every wait --------------------------------------------------------------


class SlowInsync:
    """Route 53 whose changes stay PENDING for `seconds` of the engine's clock."""

    def __init__(self, client, clock, seconds: float):
        self._client, self.clock, self.seconds = client, clock, seconds
        self.started: dict[str, float] = {}

    def change_resource_record_sets(self, **kwargs):
        answer = self._client.change_resource_record_sets(**kwargs)
        self.started[answer["ChangeInfo"]["Id"]] = self.clock.now()
        answer["ChangeInfo"]["Status"] = "PENDING"
        return answer

    def get_change(self, Id):  # noqa: N803 - boto3's parameter name
        done = self.clock.now() - self.started[Id] >= self.seconds
        return {"ChangeInfo": {"Id": Id, "Status": "INSYNC" if done else "PENDING"}}

    def __getattr__(self, name):
        return getattr(self._client, name)


def a_rival_tries_the_lease(engine, clock, when) -> list[str]:
    """Once `when()` holds on the engine's clock, a rival run tries to take the stack's lease,
    once; the list says whether it "took it" or was "refused"."""
    rival = Ledger(engine.ledger.table, "dev", client=engine.ledger.client, owner="rival", now=clock.now)
    attempts = []

    def contend(start, end):
        if not attempts and when():
            try:
                rival.acquire()
                attempts.append("took it")
            except LockHeldError:
                attempts.append("refused")

    clock.listeners.append(contend)
    return attempts


def test_an_insync_wait_longer_than_the_lease_keeps_the_lease(make_engine, clock, route53):
    engine = make_engine()
    validated(engine)
    assert engine.ledger.lease_seconds < 90
    slow = engine.direct_router._client = SlowInsync(route53, clock, seconds=90)
    attempts = a_rival_tries_the_lease(engine, clock, when=lambda: (
        engine.ledger.fence is not None
        and clock.now() - min(slow.started.values(), default=clock.now()) >= 70))
    result = Executor(engine).advance()
    assert attempts == ["refused"], "70 s into a 90 s INSYNC wait the lease was still held"
    assert result.status is Status.PROMOTED and engine.router.current() == {EC2: 95, FARGATE: 5}


class ThrottledSlowInsync(SlowInsync):
    """Slow to apply a change, and throttling the first `throttled` GetChange polls."""

    def __init__(self, client, clock, seconds: float, throttled: int):
        super().__init__(client, clock, seconds)
        self.throttled, self.polls = throttled, []

    def get_change(self, Id):  # noqa: N803 - boto3's parameter name
        self.polls.append(self.clock.now())
        if self.throttled:
            self.throttled -= 1
            raise ClientError({"Error": {"Code": "Throttling", "Message": "injected"}}, "GetChange")
        return super().get_change(Id)


def test_an_operators_rollback_during_a_throttled_insync_wait_is_not_undone(make_engine, clock, route53):
    """The default plan's INSYNC polls (1 s, then doubling to 5 s) meet a throttled, slow Route
    53 while a run shifts to 5 %; an operator rolls back mid-wait. The run's move lands after
    the rollback's, yet the run stands down: it never writes its weights again, and the
    weights stay on EC2."""
    from migration.plan import default_plan

    engine = make_engine(plan=default_plan())
    validated(engine)
    slow = engine.direct_router._client = ThrottledSlowInsync(route53, clock, seconds=40, throttled=3)
    operator = make_engine(plan=default_plan(), owner="operator")
    rolled = []

    def roll_back_mid_wait(start, end):
        if not rolled and slow.started and clock.now() - min(slow.started.values()) >= 15:
            rolled.append(Executor(operator).rollback("clients see 5xx"))

    clock.listeners.append(roll_back_mid_wait)
    with pytest.raises(LeaseLostError):
        Executor(engine).advance()
    assert rolled and rolled[0].status is Status.ROLLED_BACK
    assert slow.throttled == 0 and len(slow.started) == 1, "one move of the run's, never a second"
    gaps = [b - a for a, b in itertools.pairwise(slow.polls)]
    assert gaps[:3] == [2, 4, 5] and min(gaps) >= 2, "backed off toward the plan's 5 s, no hot loop"
    assert engine.router.current() == ALL_ON_EC2
    assert engine.ledger.read_state()["status"] == "aborted"


def test_the_plans_insync_poll_interval_reaches_the_router(make_engine):
    from migration.plan import default_plan, quick_plan

    assert make_engine().direct_router.poll_seconds == quick_plan().insync_poll_seconds < 1
    assert make_engine(plan=default_plan()).direct_router.poll_seconds == default_plan().insync_poll_seconds


def test_a_shift_that_never_becomes_insync_ends_with_the_records_back_on_ec2_and_says_so(
        make_engine, clock, route53):
    """Route 53 accepts the change and never propagates it: the shift times out, the judge's
    rollback writes the records back to EC2 (its own change times out too), the abort is
    recorded, and the run's last line tells a person to check and roll back."""
    engine = make_engine()
    validated(engine)
    slow = engine.direct_router._client = SlowInsync(route53, clock, seconds=10 ** 6)
    with pytest.raises(MigrationError, match="not INSYNC after 300 s.*run `soundbite migrate rollback` now"):
        Executor(engine).advance()
    assert len(slow.started) >= 2, "the shift, then the rollback's own change"
    assert engine.direct_router.current() == ALL_ON_EC2, "the records say EC2, whenever they propagate"
    assert engine.ledger.read_state()["status"] == "aborted"


def test_a_judges_rollback_keeps_the_lease_through_an_insync_wait_longer_than_the_lease(
        make_engine, clock, route53, cloudwatch):
    """CloudWatch goes down at 5 %; the rollback's own change stays PENDING 90 s: nobody may
    take the stack's lease (and move traffic back) before the rollback has landed."""
    engine = make_engine()
    engine.metrics = CloudWatchMetrics(engine.metrics.profile, client=Faulty(
        cloudwatch, {"get_metric_data", "get_metric_statistics"}, code="ServiceUnavailable"))
    validated(engine)
    slow = engine.direct_router._client = SlowInsync(route53, clock, seconds=90)
    attempts = a_rival_tries_the_lease(engine, clock, when=lambda: (  # 70 s into the rollback's change
        len(slow.started) == 2 and clock.now() - max(slow.started.values()) >= 70))
    result = Executor(engine).advance()
    assert attempts == ["refused"], "70 s into the rollback's INSYNC wait the lease was still held"
    assert result.status is Status.ROLLED_BACK and engine.router.current() == ALL_ON_EC2


class HungRead:
    """CloudWatch whose first soak read hangs: the engine's clock runs on by `seconds` (in two
    halves, each waiting for the ledger to show a renewal) before the answer comes."""

    def __init__(self, client, engine, clock, seconds: float):
        self._client, self.engine, self.clock, self.seconds = client, engine, clock, seconds
        self.hung = self.over = False

    def _hang(self) -> None:
        self.hung = True
        for _ in range(2):
            self.clock.sleep(self.seconds / 2)
            wait_for(lambda: lease_expires(self.engine) > self.clock.now() + 1,
                     what="the heartbeat to renew the lease during the read")
        self.over = True

    def get_metric_data(self, **kwargs):
        if not self.hung:
            self._hang()
        return self._client.get_metric_data(**kwargs)

    def __getattr__(self, name):
        return getattr(self._client, name)


def lease_expires(engine) -> float:
    item = engine.ledger.client.get_item(TableName=engine.ledger.table, Key=engine.ledger.lock_key,
                                         ConsistentRead=True)["Item"]
    return float(item["expiresAt"]["N"])


def test_a_metrics_read_slower_than_the_lease_keeps_the_lease(make_engine, clock, cloudwatch, monkeypatch):
    """A CloudWatch read that hangs for 100 s of a 60 s lease: the heartbeat keeps the lease,
    so no rival run can take the stack while this one waits on its canary's evidence."""
    engine = make_engine()
    validated(engine)
    monkeypatch.setattr(engine.ledger, "heartbeat", functools.partial(engine.ledger.heartbeat, interval=0.02))
    hung = HungRead(cloudwatch, engine, clock, seconds=100)
    engine.metrics = CloudWatchMetrics(engine.metrics.profile, client=hung)
    attempts = a_rival_tries_the_lease(engine, clock, when=lambda: hung.over)
    result = Executor(engine).advance()
    assert hung.over and attempts == ["refused"], "after a 100 s read the lease was still held"
    assert result.status is Status.PROMOTED and engine.router.current() == {EC2: 95, FARGATE: 5}


def test_the_engines_aws_calls_end_in_seconds(make_engine):
    """Botocore's defaults (60 s reads, retried) would let one hung call outlast the lease:
    every client the factory builds takes the service's short timeouts; Route 53 (the
    rollback's one dependency) tries longer through throttling, never waits longer per call."""
    engine = make_engine()
    clients = {"cloudwatch": engine.metrics._client, "dynamodb": engine.ledger.client,
               "route53": engine.direct_router.client}
    for name, client in clients.items():
        config = client.meta.config
        assert (config.connect_timeout, config.read_timeout) == (
            spec.AWS_CONNECT_TIMEOUT_SECONDS, spec.AWS_READ_TIMEOUT_SECONDS), name
        attempts = spec.ROUTE53_MAX_ATTEMPTS if name == "route53" else spec.AWS_MAX_ATTEMPTS
        assert config.retries == {"mode": "standard", "total_max_attempts": attempts}, name
    longest_read = READ_ATTEMPTS * spec.AWS_MAX_ATTEMPTS * (
        spec.AWS_CONNECT_TIMEOUT_SECONDS + spec.AWS_READ_TIMEOUT_SECONDS)
    assert longest_read > engine.ledger.lease_seconds, "why the reads run under the heartbeat"


# --- provider errors are measurements ------------------------------------------------------------


def test_cloudwatch_throttling_mid_soak_is_an_error_check_then_judging_goes_on(make_engine, cloudwatch, clock):
    window = {}

    def failing():
        return window.get("from", float("inf")) <= clock.now() < window.get("to", float("inf"))

    def on_event(event):  # the soak's first look opens a throttled window of two more looks
        if event["kind"] == "verdict" and not window:
            window.update({"from": event["at"] + 0.5, "to": event["at"] + 2.5})

    faulty = Faulty(cloudwatch, {"get_metric_data", "get_metric_statistics"}, failing=failing)
    engine = make_engine()
    engine.metrics = CloudWatchMetrics(engine.metrics.profile, client=faulty)
    engine.on_event = on_event
    validated(engine)
    result = Executor(engine).advance()
    assert result.status is Status.PROMOTED
    outcomes = [v["outcome"] for v in result.verdicts]
    assert "error" in outcomes and outcomes[-1] == "pass"
    error = next(v for v in result.verdicts if v["outcome"] == "error")
    assert "Throttling" in error["reason"]
    assert faulty.failures > 0


def test_cloudwatch_down_rolls_back_after_the_error_limit(make_engine, cloudwatch):
    engine = make_engine()
    faulty = Faulty(cloudwatch, {"get_metric_data", "get_metric_statistics"}, code="ServiceUnavailable")
    engine.metrics = CloudWatchMetrics(engine.metrics.profile, client=faulty)
    validated(engine)
    result = Executor(engine).advance()
    assert result.status is Status.ROLLED_BACK
    assert engine.router.current() == ALL_ON_EC2
    errors = [v for v in result.verdicts if v["outcome"] == "error"]
    assert len(errors) == engine.plan.consecutive_error_limit
    assert "could not be measured" in result.reason and "ServiceUnavailable" in result.reason
    assert engine.ledger.read_state()["status"] == "aborted"


def test_the_ledger_gone_mid_soak_rolls_back_through_route53(make_engine, clock, boto_session):
    engine = make_engine()
    validated(engine)
    gone_at = clock.now() + 4
    engine.ledger._client = Faulty(boto_session.client("dynamodb"),
                                   {"get_item", "put_item", "update_item", "transact_write_items", "query"},
                                   code="ResourceNotFoundException", failing=lambda: clock.now() >= gone_at)
    result = Executor(engine).advance()
    assert result.status is Status.ROLLED_BACK
    assert engine.router.current() == ALL_ON_EC2
    assert "control-plane failure" in result.reason
    assert any("abort was not recorded" in w for w in result.warnings)


# --- rollback needs Route 53 alone --------------------------------------------------------------


def test_rollback_with_the_ledger_table_missing_still_moves_the_weights(make_engine, target_file):
    engine = make_engine()
    engine.router.set_weights({EC2: 75, FARGATE: 25})
    result = soundbite("migrate", "rollback", "--config", target_file(ledger_table="no-such-table"),
                       "--yes", "--reason", "5xx")
    assert result.returncode == ExitCode.OK, result.stderr
    assert engine.router.current() == ALL_ON_EC2
    assert "warning: traffic is safe on EC2, but the abort was not recorded" in result.stderr
    assert "Traceback" not in result.stderr


def test_rollback_with_a_broken_target_and_plan_file_still_moves_the_weights(make_engine, target_file,
                                                                             tmp_path):
    """Rollback needs the zone, the record and a region: a mistake elsewhere in the target
    file, or a broken plan file, is a warning, never a reason to leave traffic on Fargate."""
    engine = make_engine()
    engine.router.set_weights({EC2: 75, FARGATE: 25})
    plan = tmp_path / "plan.yaml"
    plan.write_text("judge: {min_requests: x}\n")
    result = soundbite("migrate", "rollback", "--config", target_file(direct_urls="http://x", metrics=7),
                       "--plan", str(plan), "--yes", "--reason", "5xx")
    assert result.returncode == ExitCode.OK, result.stderr
    assert engine.router.current() == ALL_ON_EC2
    assert "direct_urls" in result.stderr and "rolling back with what a rollback needs of it" in result.stderr
    assert "rolling back with the default plan" in result.stderr and "Traceback" not in result.stderr
    assert engine.ledger.read_state()["abort"]["reason"] == "5xx", "the abort is still recorded"
    moving = soundbite("migrate", "advance", "--config", target_file(direct_urls="http://x"), "--yes")
    assert moving.returncode == ExitCode.USAGE, "only rollback reads a broken file leniently"
    nameless = Path(target_file(direct_urls="http://x"))
    data = json.loads(nameless.read_text())
    del data["stack"]
    nameless.write_text(json.dumps(data))
    unnamed = soundbite("migrate", "rollback", "--config", str(nameless), "--yes")
    assert unnamed.returncode == ExitCode.USAGE and "pass --stack" in unnamed.stderr, \
        "whose ledger records the abort is never guessed"
    named = soundbite("migrate", "rollback", "--config", str(nameless), "--stack", "dev", "--yes")
    assert named.returncode == ExitCode.OK, named.stderr


def test_rollback_with_auto_scaling_unreachable_still_moves_the_weights(make_engine, target_file, stacks):
    engine = make_engine()
    engine.router.set_weights({EC2: 75, FARGATE: 25})
    result = soundbite("migrate", "rollback", "--config", target_file(asg_name=stacks["asg"].name),
                       "--yes", "--json", env={"AWS_ENDPOINT_URL_AUTO_SCALING": "http://127.0.0.1:9",
                                               "AWS_MAX_ATTEMPTS": "1"})
    assert result.returncode == ExitCode.OK, result.stderr
    data = json.loads(result.stdout)
    assert data["weights"] == ALL_ON_EC2 and engine.router.current() == ALL_ON_EC2
    assert any("capacity could not be checked" in w for w in data["warnings"])
    assert "Traceback" not in result.stderr


def test_the_judges_rollback_survives_auto_scaling_gone(make_engine, traffic, stacks):
    asg = stacks["asg"]
    engine = make_engine(ec2_scaler=AsgHealth(asg.name, Faulty(asg._client, {"describe_auto_scaling_groups"})))
    validated(engine)
    traffic().fault = lambda w: {FARGATE: 0.3}
    result = Executor(engine).advance()
    assert result.status is Status.ROLLED_BACK and engine.router.current() == ALL_ON_EC2
    assert any("capacity could not be checked" in w for w in result.warnings)


def test_rollback_wait_capacity_reports_the_in_service_count(make_engine, stacks):
    asg = stacks["asg"]
    engine = make_engine(ec2_scaler=asg)
    engine.router.set_weights({EC2: 75, FARGATE: 25})
    result = Executor(engine).rollback("test", wait_capacity=True)
    assert engine.router.current() == ALL_ON_EC2
    assert any(a.startswith("EC2 has ") and "instances in service" in a for a in result.actions)


# --- a process killed between Route 53 and its ledger write --------------------------------------

KILL_AFTER_ROUTE53 = """
import os, signal, sys
from migration.router import Route53WeightedRouter
real = Route53WeightedRouter.set_weights
def set_then_die(self, weights, expect=None):
    real(self, weights, expect)
    os.kill(os.getpid(), signal.SIGKILL)
Route53WeightedRouter.set_weights = set_then_die
from soundbite.cli import main
sys.argv = ["soundbite", *sys.argv[1:]]
main()
"""


def test_killed_between_the_route53_change_and_its_ledger_write_then_resume(make_engine, target_file,
                                                                               tmp_path):
    engine = make_engine(traffic=False)
    validated(engine)
    plan = plan_file(tmp_path, [50, 100], soak=0.2, interval=0.05, extension=0.3)
    config = target_file()
    killed = subprocess.run([sys.executable, "-c", KILL_AFTER_ROUTE53, "migrate", "advance", "--config",
                             config, "--plan", plan, "--yes"], capture_output=True, text=True, cwd=ROOT,
                            timeout=90)
    assert killed.returncode == -9, killed.stderr
    assert engine.router.current() == {EC2: 50, FARGATE: 50}, "the change reached Route 53"
    assert engine.ledger.read_state()["pending"]["after"] == {EC2: 50, FARGATE: 50}
    engine.ledger.client.update_item(  # the dead run's lease runs out
        TableName=engine.ledger.table, Key=engine.ledger.lock_key,
        UpdateExpression="SET expiresAt = :zero", ExpressionAttributeValues={":zero": {"N": "0"}})
    refused = soundbite("migrate", "advance", "--config", config, "--plan", plan)
    assert refused.returncode == ExitCode.REFUSED and "soundbite migrate resume" in refused.stderr
    resumed = soundbite("migrate", "resume", "--config", config, "--plan", plan, "--json", "--yes")
    data = json.loads(resumed.stdout)
    assert resumed.returncode == ExitCode.HELD, resumed.stderr  # no traffic here: judged, then held
    assert data["step"] == "shift-50" and "more canary requests" in data["reason"]
    assert engine.router.current() == {EC2: 50, FARGATE: 50}
    resume = next(e for e in engine.ledger.events(500) if e["kind"] == "resume")
    assert "reached Route 53" in resume["adopted"]
    assert engine.ledger.read_state()["pending"] is None
    assert any(e["kind"] == "verdict" and e["step"] == "shift-50" for e in engine.ledger.events(500))


# --- files are validated before anything moves; no tracebacks -------------------------------------


@pytest.mark.parametrize(("plan", "field"), [
    ({"judge": {"min_requests": "x"}}, "judge.min_requests"),
    ({"analysis_interval_seconds": True}, "analysis_interval_seconds"),
    ({"steps": [5, {"percent": 500}]}, "steps.1.percent"),
    ({"failure_limit": 0}, "failure_limit"),
    ({"soak": 3}, "soak: unknown key"),
])
def test_a_mistyped_plan_file_is_refused_before_anything_moves(make_engine, target_file, tmp_path,
                                                                plan, field):
    engine = make_engine(traffic=False)
    path = tmp_path / "plan.yaml"
    import yaml

    path.write_text(yaml.safe_dump(plan))
    result = soundbite("migrate", "advance", "--config", target_file(), "--plan", str(path), "--yes")
    assert result.returncode == ExitCode.USAGE, result.stderr
    assert field in result.stderr and "plan.yaml" in result.stderr
    assert "Traceback" not in result.stderr
    assert engine.router.current() == ALL_ON_EC2 and engine.ledger.events() == []


@pytest.mark.parametrize(("extra", "field"), [
    ({"direct_urls": "http://fargate.example.com"}, "direct_urls"),
    ({"direct_urls": {"fargate": "not a url"}}, "direct_urls.fargate"),
    ({"ecs_service": "api"}, "ecs_cluster and ecs_service go together"),
    ({"metrics": "prometheus"}, "metrics"),
])
def test_a_mistyped_target_file_names_its_field(target_file, extra, field):
    result = soundbite("migrate", "status", "--config", target_file(**extra), "--json")
    assert result.returncode == ExitCode.USAGE
    assert field in json.loads(result.stdout)["message"]
    assert "Traceback" not in result.stderr


def test_a_missing_region_is_one_line(target_file):
    result = soundbite("migrate", "status", "--config", target_file(),
                       env={"AWS_DEFAULT_REGION": "", "AWS_REGION": "", "AWS_CONFIG_FILE": "/nonexistent"})
    assert result.returncode == ExitCode.USAGE and "no AWS region" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_soundbite_command_prints_a_traceback_without_debug(target_file):
    dead = {"AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:9", "AWS_MAX_ATTEMPTS": "1"}
    history = soundbite("migrate", "history", "--config", target_file(), env=dead)
    assert history.returncode == ExitCode.ERROR and "Traceback" not in history.stderr
    assert len(history.stderr.strip().splitlines()) == 1
    as_json = soundbite("migrate", "history", "--config", target_file(), "--json", env=dead)
    assert json.loads(as_json.stdout)["status"] == "error"
    dlq = soundbite("dlq", "inspect", "--json", env={"AWS_ENDPOINT_URL_SQS": "http://127.0.0.1:9",
                                                     "AWS_MAX_ATTEMPTS": "1"})
    assert dlq.returncode != 0 and "Traceback" not in dlq.stderr
    debug = soundbite("--debug", "migrate", "history", "--config", target_file(), env=dead)
    assert "Traceback" in debug.stderr


@pytest.mark.parametrize("dead", ["DYNAMODB", "CLOUDWATCH"])
def test_status_shows_route53_and_every_readable_section_when_one_source_is_down(
        make_engine, target_file, dead):
    """What the rollback runbook confirms a rollback with: with the ledger or CloudWatch
    gone, `status` still shows the live weights and names what it could not read (exit 1)."""
    engine = make_engine()
    Executor(engine).rollback("drill")
    env = {f"AWS_ENDPOINT_URL_{dead}": "http://127.0.0.1:9", "AWS_MAX_ATTEMPTS": "1"}
    shown = soundbite("migrate", "status", "--config", target_file(), env=env)
    assert shown.returncode == ExitCode.ERROR and "Traceback" not in shown.stderr
    assert "live ec2 100 / fargate 0" in shown.stdout
    section = {"DYNAMODB": "ledger", "CLOUDWATCH": "alarms"}[dead]
    assert f"UNREADABLE {section}:" in shown.stdout and len(shown.stderr.strip().splitlines()) == 1
    in_place = {"DYNAMODB": "run: UNREADABLE; lock: UNREADABLE", "CLOUDWATCH": "alarms in ALARM: UNREADABLE"}
    assert in_place[dead] in shown.stdout, "never a default (lock free, no alarm) for what was not read"
    data = json.loads(soundbite("migrate", "status", "--config", target_file(), "--json", env=env).stdout)
    assert data["status"] == "partial" and data["live_weights"] == ALL_ON_EC2
    assert section in data["unreadable"]
    if dead == "CLOUDWATCH":  # the ledger still says who rolled back, and why
        assert data["abort"]["reason"] == "drill"


def test_the_heartbeat_renews_through_a_blocking_call(make_engine):
    engine = make_engine(traffic=False)
    ledger = engine.ledger
    ledger.lease_seconds = 0.6
    ledger.now = __import__("time").time
    ledger.acquire()
    renewed = threading.Event()
    expires = ledger.holder()["expiresAt"]
    with ledger.heartbeat(interval=0.05):
        renewed.wait(0.5)  # a blocking call standing for `pulumi up`
    assert ledger.holder()["expiresAt"] > expires
    ledger.release()


def test_a_fenced_write_after_a_takeover_writes_nothing(make_engine, clock):
    run = make_engine(owner="run-a", traffic=False).ledger
    operator = make_engine(owner="oncall", traffic=False).ledger
    run.acquire()
    run.commit("shift", state={"status": "soaking"})
    clock.t += 1
    operator.acquire_forcibly()
    operator.commit("rollback", state={"status": "aborted"})
    clock.t += 1
    with pytest.raises(StoodDownError, match="aborted"):  # exit 6: the abort stands
        run.commit("promoted", state={"status": "promoted"})
    with pytest.raises(LeaseLostError):
        run.commit("verdict")  # an event alone is fenced by the lease
    assert run.read_state()["status"] == "aborted"
    assert [e["kind"] for e in run.events()] == ["shift", "rollback"]
    assert operator.holder()["version"] == 2, "every acquisition moves the fencing token on"


# --- races between a run and an operator ----------------------------------------------------


def test_a_rollback_that_lands_while_a_run_takes_its_lease_is_seen_once_the_lease_is_ours(make_engine):
    """The abort is checked after the lease is taken: a rollback that finished (and released
    the lock) between a check and the acquisition cannot let the run carry on over it."""
    engine = make_engine(owner="run-a")
    validated(engine)
    operator = make_engine(owner="oncall", traffic=False)
    take = engine.ledger.acquire

    def acquire_just_after_a_rollback():
        Executor(operator).rollback("clients see 5xx")
        return take()

    engine.ledger.acquire = acquire_just_after_a_rollback
    with pytest.raises(AbortedError, match="clients see 5xx"):
        Executor(engine).run()
    assert engine.router.current() == ALL_ON_EC2
    state = engine.ledger.read_state()
    assert state["status"] == "aborted" and state["abort"]["reason"] == "clients see 5xx"
    assert "run" not in kinds(engine), "the run wrote nothing over the abort"


def test_an_approval_never_erases_an_abort(make_engine):
    engine = make_engine()
    validated(engine)
    Executor(engine).rollback("bad build")
    with pytest.raises(AbortedError, match="bad build"):
        Executor(make_engine(owner="approver", traffic=False)).approve("shift-5")
    state = engine.ledger.read_state()
    assert state["status"] == "aborted" and state["abort"]["reason"] == "bad build"
    assert state["approvals"] == []


def test_two_writers_of_the_state_never_lose_each_others_fields(make_engine):
    """Read, merge, write conditional on the revision: the later writer merges again."""
    first = make_engine(owner="first", traffic=False).ledger
    second = make_engine(owner="second", traffic=False).ledger
    first.commit("seeded", state={"status": "soaking", "step": "shift-5"})
    read = first._read_state
    raced = {"done": False}

    def read_then_lose_the_race():
        found = read()
        if not raced["done"]:
            raced["done"] = True
            second.commit("approval", state={"approvals": ["shift-100"]})
        return found

    first._read_state = read_then_lose_the_race
    first.commit("held", state={"status": "held", "reason": "too few requests"})
    state = first.read_state()
    assert (state["status"], state["approvals"]) == ("held", ["shift-100"])


def test_an_approval_racing_a_retry_is_rebuilt_from_the_fresh_state(make_engine):
    """`retry` clears the approvals between the approval's read and its write: the approval
    is computed again from what `retry` left, and no approval from before the abort returns."""
    approver = make_engine(owner="approver", traffic=False)
    approver.ledger.commit("seeded", state={"approvals": ["shift-5"]})
    oncall = make_engine(owner="oncall", traffic=False).ledger
    read, raced = approver.ledger._read_state, []

    def read_then_retry_clears_them():
        found = read()
        if not raced:
            raced.append(oncall.commit("retry", state={"approvals": []}, over_abort=True))
        return found

    approver.ledger._read_state = read_then_retry_clears_them
    Executor(approver).approve("shift-25")
    assert approver.ledger.read_state()["approvals"] == ["shift-25"]


def test_a_runs_move_that_lands_during_an_operators_rollback_is_put_back(make_engine):
    """The run's change was submitted before it saw the new fencing token, and lands after
    the rollback verified EC2: the rollback reads Route 53 once more and puts it back."""
    engine = make_engine(owner="oncall", traffic=False)
    validated(engine)
    take = engine.ledger.acquire_forcibly

    def a_late_move_lands_first():
        engine.direct_router.set_weights({EC2: 95, FARGATE: 5})  # the run's in-flight change
        return take()

    engine.ledger.acquire_forcibly = a_late_move_lands_first
    result = Executor(engine).rollback("operator says no")
    assert engine.router.current() == ALL_ON_EC2
    assert any("was put back" in a for a in result.actions)
    assert engine.ledger.read_state()["status"] == "aborted"


def test_a_run_move_landing_between_the_rollbacks_write_and_read_is_overwritten(make_engine):
    """The run's change lands just after the operator's write and before its read-back: the
    rollback writes again instead of giving up before it has recorded the abort."""
    engine = make_engine(owner="run-a", traffic=False)
    engine.direct_router.set_weights({EC2: 95, FARGATE: 5})
    write, raced = engine.direct_router.set_weights, []

    def then_the_run_lands(weights, expect=None):
        changed = write(weights, expect=expect)
        if not raced:
            raced.append(write({EC2: 75, FARGATE: 25}))  # the run's in-flight shift
        return changed

    engine.direct_router.set_weights = then_the_run_lands
    result = Executor(engine).rollback("operator says no")
    assert result.status is Status.ROLLED_BACK and engine.router.current() == ALL_ON_EC2
    assert "weights ec2 75 / fargate 25 -> ec2 100 / fargate 0" in result.actions
    assert engine.ledger.read_state()["status"] == "aborted"


def test_a_stood_down_run_never_overwrites_a_newer_decision(make_engine):
    """Undoing its own late change, a run restores only if its change is still what Route 53
    shows: weights someone set since stand."""
    engine = make_engine(owner="run-a", traffic=False)
    engine.ledger.commit("seeded", state={"status": "soaking"})
    engine.direct_router.set_weights({EC2: 50, FARGATE: 50})  # someone else's newer decision
    Executor(engine)._undo_in_flight({EC2: 95, FARGATE: 5}, {EC2: 75, FARGATE: 25})
    assert engine.router.current() == {EC2: 50, FARGATE: 50}


def test_a_stood_down_runs_late_step_back_stays(make_engine):
    """Its late change lowered Fargate's share (a step back 25 -> 5 that landed after a
    takeover): undoing it would raise the share again, onto the canary just judged sick."""
    engine = make_engine(owner="run-a", traffic=False)
    engine.ledger.commit("seeded", state={"status": "soaking"})
    engine.direct_router.set_weights({EC2: 95, FARGATE: 5})
    Executor(engine)._undo_in_flight({EC2: 75, FARGATE: 25}, {EC2: 95, FARGATE: 5})
    assert engine.router.current() == {EC2: 95, FARGATE: 5}


def test_after_an_abort_a_late_move_is_undone_whatever_route53_shows(make_engine):
    """A `pulumi up` writes its two records in separate calls: half of it lands after the
    operator's rollback, so Route 53 shows neither the run's before nor its after. The abort
    is final: any share on Fargate goes."""
    engine = make_engine(owner="run-a", traffic=False)
    engine.ledger.commit("seeded", state={"status": "aborted"})
    engine.direct_router.set_weights({EC2: 75, FARGATE: 25})  # neither 95/5 nor 75/25... half landed
    Executor(engine)._undo_in_flight({EC2: 95, FARGATE: 5}, {EC2: 50, FARGATE: 50})
    assert engine.router.current() == ALL_ON_EC2
    assert "in-flight-undone" in kinds(engine)


def test_rollback_moves_traffic_before_it_asks_sts_who_is_acting(target_file, make_engine, monkeypatch):
    from click.testing import CliRunner

    from migration.cli import migrate

    engine = make_engine(traffic=False)
    engine.direct_router.set_weights({EC2: 75, FARGATE: 25})
    seen = []
    monkeypatch.setattr("migration.cli._operator", lambda _target: seen.append(
        engine.direct_router.current()) or None)
    result = CliRunner().invoke(migrate, ["rollback", "--config", target_file(), "--yes"])
    assert result.exit_code == ExitCode.OK, result.output
    assert seen == [ALL_ON_EC2], "the identity was looked up only once traffic was safe"


def test_ctrl_c_during_a_rollback_exits_130_in_one_line(target_file, make_engine, monkeypatch):
    """Not click's "Aborted!" and exit 1 (documented as an AWS call that failed)."""
    from click.testing import CliRunner

    from soundbite.cli import main

    make_engine(traffic=False)

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Executor, "rollback", interrupted)
    result = CliRunner().invoke(main, ["migrate", "rollback", "--config", target_file(), "--yes"])
    assert result.exit_code == ExitCode.INTERRUPTED, result.output
    assert "interrupted" in result.output and "Aborted!" not in result.output


# --- every step's outcome, and nothing unjudged between steps -----------------------------


def test_each_steps_outcome_is_recorded_rolled_back_error_or_aborted(make_engine, monkeypatch):
    engine = make_engine()
    validated(engine)
    judge_breaks_at_look(monkeypatch, 2, ValueError("bad value"))
    Executor(engine).advance()
    assert engine.ledger.read_state()["steps"]["shift-5"]["outcome"] == "error"

    monkeypatch.undo()
    Executor(engine).retry()
    validated(engine)
    engine.ledger.commit("seeded", state={"status": "soaking", "step": "shift-5"})
    engine.direct_router.set_weights({EC2: 95, FARGATE: 5})
    Executor(make_engine(owner="oncall", traffic=False)).rollback("drill")
    assert engine.ledger.read_state()["steps"]["shift-5"]["outcome"] == "aborted"


def test_a_ledger_failure_between_two_steps_rolls_back_rather_than_leave_fargate_unjudged(make_engine):
    from migration.exceptions import MigrationError

    engine = make_engine()
    validated(engine)
    read = engine.ledger.read_state
    failed = {"n": 0}

    def unreadable_once_shift_5_is_promoted():
        state = read()
        if "shift-5" in state.get("promoted", []) and not failed["n"]:
            failed["n"] += 1
            raise MigrationError("ledger table: throttled")
        return state

    engine.ledger.read_state = unreadable_once_shift_5_is_promoted
    result = Executor(engine).run()
    assert failed["n"] == 1
    assert result.status is Status.ROLLED_BACK and "between steps" in result.reason
    assert engine.router.current() == ALL_ON_EC2
    assert engine.ledger.read_state()["status"] == "aborted"


def test_advance_to_a_gated_step_records_and_notifies_the_wait_for_approval(make_engine):
    seen = []
    engine = make_engine()
    engine.on_event = seen.append
    engine.ledger.commit("seeded", state={"promoted": ["validate", "shift-5", "shift-25", "shift-50"],
                                          "weights": {EC2: 50, FARGATE: 50}})
    engine.direct_router.set_weights({EC2: 50, FARGATE: 50})
    from migration.exceptions import ApprovalRequiredError
    from migration.plan import default_plan

    engine.plan = default_plan()
    with pytest.raises(ApprovalRequiredError):
        Executor(engine).advance()
    assert "awaiting-approval" in [e["kind"] for e in seen]
    assert engine.ledger.read_state()["status"] == "awaiting-approval"


def test_ecs_unreadable_mid_soak_is_an_error_check_and_rolls_back_after_the_limit(make_engine, stacks):
    """The canary's ECS service cannot be read (ECS answers 503): each look is `error` with its
    cause, and after the plan's consecutive-error limit traffic goes back to EC2."""
    from migration.health import EcsServiceHealth

    shifted = {}
    ecs = Faulty(stacks["ecs"], {"describe_services"}, code="ServiceUnavailable",
                 failing=lambda: bool(shifted))  # counted before the shift, then gone
    engine = make_engine(health={EC2: [], FARGATE: [EcsServiceHealth(stacks["cluster"], "api", ecs)]})
    engine.on_event = lambda event: event["kind"] == "soak" and shifted.update(at=event["at"])
    validated(engine)
    result = Executor(engine).advance()
    assert result.status is Status.ROLLED_BACK and engine.router.current() == ALL_ON_EC2
    errors = [v for v in result.verdicts if v["outcome"] == "error"]
    assert len(errors) == engine.plan.consecutive_error_limit and ecs.failures >= len(errors)
    assert "ServiceUnavailable" in result.reason
    assert engine.ledger.read_state()["steps"]["shift-5"]["outcome"] == "rolled-back"


def test_ecs_unreadable_before_a_raise_holds_without_moving_traffic(make_engine, stacks):
    """Fargate's tasks cannot be counted: the run does not raise its share blind."""
    from migration.health import EcsServiceHealth

    ecs = Faulty(stacks["ecs"], {"describe_services"}, code="ServiceUnavailable")
    engine = make_engine(health={EC2: [], FARGATE: [EcsServiceHealth(stacks["cluster"], "api", ecs)]})
    validated(engine)
    result = Executor(engine).advance()
    assert result.status is Status.HELD and "tasks could not be counted" in result.reason
    assert engine.router.current() == ALL_ON_EC2


def test_a_pulumi_up_that_outlasts_the_lease_keeps_it(make_engine, zone, route53):
    """`pulumi up` blocks for twice the lease; a rival trying to take the lock meanwhile is
    refused, because the heartbeat renews it through the call."""
    import time

    engine = make_engine()
    validated(engine)
    engine.ledger.lease_seconds, engine.ledger.now = 2.0, time.time
    fake = FakeWorkspaceStack(route53, *zone, engine.phase_table)
    stack = PulumiStack(fake, "dev")
    stack.set_phase("validate")
    rival = Ledger(engine.ledger.table, "dev", client=engine.ledger.client, owner="rival", lease_seconds=2.0)
    attempts = []
    original_up = fake.up

    def slow_up(on_output=None):
        first_expiry = engine.ledger.holder()["expiresAt"]
        # held until the lease taken before the up would have run out, and then some
        wait_for(lambda: time.time() > first_expiry + engine.ledger.lease_seconds,
                 timeout=30, interval=0.1, what="the first lease to run out")
        try:
            rival.acquire()
            attempts.append("took it")
        except LockHeldError:
            attempts.append("refused")
        return original_up(on_output)

    fake.up = slow_up
    engine.router = PulumiRouter(stack, engine.direct_router, engine.phase_table)
    result = Executor(engine).advance()
    assert attempts == ["refused"], "the lease was kept through a pulumi up twice its length"
    assert result.status is Status.PROMOTED and engine.direct_router.current() == {EC2: 95, FARGATE: 5}


class ConflictOnce:
    """DynamoDB that cancels one transaction with TransactionConflict (another writer touched
    the same item at that instant), once `armed()` says so."""

    def __init__(self, client, armed):
        self._client, self.armed, self.conflicts = client, armed, 0

    def transact_write_items(self, **kwargs):
        if self.armed() and not self.conflicts:
            self.conflicts += 1
            reasons = [{"Code": "None"}] * (len(kwargs["TransactItems"]) - 1) + [
                {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}]
            raise ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "conflict"},
                               "CancellationReasons": reasons}, "TransactWriteItems")
        return self._client.transact_write_items(**kwargs)

    def __getattr__(self, name):
        return getattr(self._client, name)


def test_a_transaction_conflict_on_the_ledger_is_written_again_not_a_rollback(make_engine):
    engine = make_engine()
    validated(engine)
    engine.ledger._client = ConflictOnce(engine.ledger.client,
                                         armed=lambda: "verdict" in kinds(engine))
    result = Executor(engine).advance()
    assert engine.ledger._client.conflicts == 1
    assert result.status is Status.PROMOTED, result.reason
    assert engine.router.current() == {EC2: 95, FARGATE: 5}


def test_what_only_a_person_can_settle_is_held_even_when_route53_cannot_be_read(make_engine, route53):
    engine = make_engine(traffic=False)
    engine.direct_router.set_weights({EC2: 75, FARGATE: 25})
    engine.direct_router._client = Faulty(route53, {"get_paginator"}, code="ServiceUnavailable")
    result = Executor(engine)._hold_for_a_person(None, DriftError("someone changed Route 53 by hand"))
    assert result.status is Status.HELD and "unknown share" in result.reason
    assert engine.ledger.read_state()["status"] == "held"


# --- this round's changes under a failing dependency -----------------------------------------


def test_a_rollback_through_a_slow_insync_with_the_ledger_gone_still_lands_on_ec2(
        make_engine, clock, route53, cloudwatch, boto_session):
    """The lease is renewed at every INSYNC poll of a rollback; with DynamoDB gone the renewal
    fails, and that must not cut the rollback's wait short."""
    engine = make_engine()
    validated(engine)
    engine.metrics = CloudWatchMetrics(engine.metrics.profile, client=Faulty(
        cloudwatch, {"get_metric_data", "get_metric_statistics"}, code="ServiceUnavailable"))
    slow = engine.direct_router._client = SlowInsync(route53, clock, seconds=90)
    engine.ledger._client = Faulty(boto_session.client("dynamodb"),
                                   {"get_item", "put_item", "update_item", "transact_write_items", "query"},
                                   code="ResourceNotFoundException", failing=lambda: len(slow.started) >= 2)
    result = Executor(engine).advance()
    assert result.status is Status.ROLLED_BACK and engine.router.current() == ALL_ON_EC2
    assert any("abort was not recorded" in w for w in result.warnings)


def test_a_rollback_that_fails_with_the_ledger_gone_too_still_tells_the_hooks(
        make_engine, monkeypatch, route53, boto_session):
    events = []
    engine = make_engine()
    engine.on_event = events.append
    validated(engine)
    judge_breaks_at_look(monkeypatch, 2, TypeError("broken"))
    broken = after_the_first_move(monkeypatch)
    engine.direct_router._client = Faulty(route53, {"change_resource_record_sets"},
                                          code="ServiceUnavailable", failing=lambda: bool(broken))
    engine.ledger._client = Faulty(boto_session.client("dynamodb"),
                                   {"get_item", "put_item", "update_item", "transact_write_items", "query"},
                                   code="ResourceNotFoundException", failing=lambda: bool(broken))
    with pytest.raises(MigrationError, match="the rollback failed too"):
        Executor(engine).advance()
    told = [e for e in events if e["kind"] == "rollback"]
    assert told and told[-1]["failed"] is True, "nobody was told that Fargate still has traffic"


def test_after_an_abort_a_late_move_is_undone_though_route53_first_fails_to_answer(make_engine, route53):
    engine = make_engine(owner="run-a", traffic=False)
    engine.ledger.commit("seeded", state={"status": "aborted"})
    engine.direct_router.set_weights({EC2: 75, FARGATE: 25})
    reads = []
    engine.direct_router._client = Faulty(route53, {"get_paginator"}, code="Throttling",
                                          failing=lambda: not reads.append(1) and len(reads) == 1)
    Executor(engine)._undo_in_flight({EC2: 95, FARGATE: 5}, {EC2: 75, FARGATE: 25})
    engine.direct_router._client = route53
    assert engine.router.current() == ALL_ON_EC2


@pytest.mark.parametrize("step", ["shift-5", "shift-25"])
def test_an_operators_rollback_just_before_a_runs_move_stays_final(make_engine, step):
    """The operator rolls back after the run wrote its shift ahead and before it sent it. From
    EC2 100 the run's move still goes out (Route 53 shows what it expects) and is undone; from
    5 % it is refused (Route 53 changed), and the run's hold for a person never lands over the
    abort."""
    engine = make_engine(owner="run-a")
    validated(engine)
    if step == "shift-25":
        engine.direct_router.set_weights({EC2: 95, FARGATE: 5})
        engine.ledger.commit("seeded", state={"promoted": ["validate", "shift-5"],
                                              "weights": {EC2: 95, FARGATE: 5}})
    oncall = make_engine(owner="oncall", traffic=False)

    def operator_acts(event):
        if event["kind"] == "shift" and event.get("step") == step:
            Executor(oncall).rollback("operator: bad build")

    engine.on_event = operator_acts
    with pytest.raises(StoodDownError):
        Executor(engine).advance()
    assert engine.router.current() == ALL_ON_EC2
    state = engine.ledger.read_state()
    assert state["status"] == "aborted" and state["abort"]["reason"] == "operator: bad build"


def test_a_target_file_that_names_no_stack_or_environment_is_refused(target_file, tmp_path):
    """Nothing is assumed: a file without them would be judged as `dev` on `local`'s names."""
    path = Path(target_file())
    data = json.loads(path.read_text())
    del data["stack"], data["environment"]
    path.write_text(json.dumps(data))
    result = soundbite("migrate", "status", "--config", str(path), "--json")
    assert result.returncode == ExitCode.USAGE
    assert "names no stack and no environment" in json.loads(result.stdout)["message"]
