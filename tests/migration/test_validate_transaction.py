"""Validation is a transaction: create a soundbite on each lane's direct name, wait for ready,
fetch and decode its audio, compare both lanes; server-side latency from the lane's metrics.

The judge's rule on simulated transactions, the client against real sockets speaking the
service's contract, and the validate step on the emulator (fake clock, metrics published to the
emulated CloudWatch)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace

import pytest

from migration.edge_metrics import publish_lane_metrics
from migration.edge_metrics import target_fields as edge_target_fields
from migration.executor import Executor, Status
from migration.factory import build_engine
from migration.judge import JudgeConfig, LaneWindow, Outcome, Severity, judge_validation
from migration.plan import quick_plan
from migration.synthetic import SYNTHETIC_USER, CommandToken, SoundbiteClient
from migration.target import Target

from .conftest import EC2, FARGATE
from .fixtures_soundbite import soundbite_lanes_fixture  # noqa: F401 - the soundbite_lanes fixture


@dataclass(frozen=True)
class Run:
    ok: bool = True
    stage: str = "done"
    detail: str = ""
    audio_seconds: float | None = 1.5


FAST = LaneWindow(60, 0, 120.0)


def test_three_matching_transactions_and_a_fast_server_pass():
    verdict = judge_validation([Run()] * 3, [Run(audio_seconds=1.52)] * 3, FAST, FAST)
    assert verdict.outcome is Outcome.PASS
    assert "server-side p95 120 ms" in verdict.reason


def test_transactions_whose_audio_length_is_unknown_still_get_a_verdict():
    verdict = judge_validation([Run(audio_seconds=None)] * 3, [Run(audio_seconds=None)] * 3, FAST, FAST)
    assert verdict.outcome is Outcome.PASS and "audio of unmeasured (canary)" in verdict.reason


@pytest.mark.parametrize(("canary", "baseline", "latency", "severity", "words"), [
    ([Run(), Run(False, "ready", "soundbite x failed")], [Run()] * 2, FAST, Severity.CRITICAL,
     "1 of 2 transactions on the canary"),
    ([Run(audio_seconds=0.7)] * 3, [Run()] * 3, FAST, Severity.CRITICAL, "0.70 s of audio on the canary"),
    ([Run()] * 3, [Run(False, "create", "503")] * 3, FAST, Severity.HOLD, "nothing to compare"),
    ([Run()] * 3, [Run()] * 3, LaneWindow(60, 0, 450.0), Severity.SOFT, "server-side p95 450 ms > 300 ms"),
])
def test_a_broken_canary_or_baseline_fails_with_its_reason(canary, baseline, latency, severity, words):
    verdict = judge_validation(canary, baseline, latency, FAST)
    assert verdict.outcome is Outcome.FAIL and verdict.severity is severity
    assert words in verdict.reason


def test_a_p95_of_a_handful_of_canary_requests_is_not_judged():
    """Fewer timed requests than the judge's minimum: their p95 is their maximum (one slow
    request on a busy host); validate passes on the transactions and says latency waits."""
    verdict = judge_validation([Run()] * 3, [Run()] * 3, LaneWindow(12, 0, 900.0), FAST)
    assert verdict.outcome is Outcome.PASS
    assert "12 timed requests on the canary are too few for a p95" in verdict.reason
    judged = judge_validation([Run()] * 3, [Run()] * 3, LaneWindow(60, 0, 900.0), FAST)
    assert judged.outcome is Outcome.FAIL


def test_too_few_transactions_or_no_server_latency_is_inconclusive():
    assert judge_validation([Run()] * 2, [Run()] * 2, FAST, FAST).outcome is Outcome.INCONCLUSIVE
    verdict = judge_validation([Run()] * 3, [Run()] * 3, LaneWindow(), FAST)
    assert verdict.outcome is Outcome.INCONCLUSIVE and "server-side latency" in verdict.reason
    assert judge_validation([Run()], [Run()], FAST, FAST,
                            JudgeConfig(validation_transactions=1)).outcome is Outcome.PASS
    unseen = judge_validation([Run()] * 3, [Run()] * 3, None, None, latency_measured=False)
    assert unseen.outcome is Outcome.PASS and "latency not judged" in unseen.reason


# --- the client against the service's contract -----------------------------------------------


def test_a_transaction_creates_waits_and_decodes_the_audio(soundbite_lanes):
    lane = soundbite_lanes[FARGATE]
    lane.polls_before_ready = 2
    done = SoundbiteClient(FARGATE, lane.url, sleep=lambda _s: None).transaction()
    assert done.ok and done.stage == "done", done
    assert done.audio_seconds == pytest.approx(1.5, abs=0.01)
    created = lane.created[0]
    assert created["user"] == SYNTHETIC_USER and created["auth"] is None
    assert len(created["key"]) == 36 and lane.polls[done.soundbite_id] == 3
    assert lane.object_auth == [None]


def test_a_token_from_the_command_signs_the_api_calls_but_not_the_object(soundbite_lanes):
    lane = soundbite_lanes[FARGATE]
    lane.token = "tok-123"
    tokens = CommandToken(f"{sys.executable} -c \"print('tok-123')\"")
    done = SoundbiteClient(FARGATE, lane.url, tokens, sleep=lambda _s: None).transaction()
    assert done.ok, done
    assert lane.created[0]["auth"] == "Bearer tok-123"
    assert lane.object_auth == [None]
    refused = SoundbiteClient(FARGATE, lane.url, sleep=lambda _s: None).transaction()
    assert (refused.ok, refused.stage) == (False, "create") and "401" in refused.detail


@pytest.mark.parametrize(("change", "stage"), [
    ({"create_status": 503}, "create"), ({"fail": True}, "ready"),
    ({"corrupt_audio": True}, "decode"), ({"polls_before_ready": 10_000}, "ready")])
def test_a_failed_transaction_says_where_it_stopped(soundbite_lanes, change, stage):
    lane = soundbite_lanes[FARGATE]
    for key, value in change.items():
        setattr(lane, key, value)
    ticks = iter(range(10_000))
    done = SoundbiteClient(FARGATE, lane.url, sleep=lambda _s: None, ready_timeout=5,
                           clock=lambda: next(ticks)).transaction()
    assert (done.ok, done.stage) == (False, stage), done


# --- the validate step on the emulator ----------------------------------------------------------


@pytest.fixture
def lane_latency(clock, cloudwatch, fresh_data_plane):
    """The canary's direct-name requests as its load balancer reports them (server-side): five
    a second, enough over validate's soak for the judge to take their p95."""
    latency = {FARGATE: 120.0}

    def publish(start: float, end: float) -> None:
        if int(end) > int(start):
            publish_lane_metrics(cloudwatch, FARGATE, 5, 0, [latency[FARGATE]] * 5, int(start),
                                 environment=fresh_data_plane.environment)

    clock.listeners.append(publish)
    return latency


def _validate_engine(make_engine, soundbite_lanes, clock):
    clients = {lane: SoundbiteClient(lane, api.url, sleep=clock.sleep)
               for lane, api in soundbite_lanes.items()}
    # the lane's metrics count its direct-name requests, as an ALB's do
    return make_engine(direct_clients=clients, synthetic_in_metrics=True)


def test_validate_promotes_when_both_lanes_complete_the_same_transaction(
        make_engine, soundbite_lanes, clock, lane_latency):
    engine = _validate_engine(make_engine, soundbite_lanes, clock)
    result = Executor(engine).advance()
    assert (result.status, result.step) == (Status.PROMOTED, "validate"), result.reason
    assert engine.router.current() == {EC2: 100, FARGATE: 0}
    assert len(soundbite_lanes[FARGATE].created) >= 3 and len(soundbite_lanes[EC2].created) >= 3
    evidence = result.verdicts[-1]["evidence"]
    assert evidence["canary_transactions"][0]["stage"] == "done"
    assert "server-side p95" in result.reason


def test_validate_holds_when_the_canary_audio_does_not_decode(make_engine, soundbite_lanes, clock,
                                                             lane_latency):
    soundbite_lanes[FARGATE].corrupt_audio = True
    engine = _validate_engine(make_engine, soundbite_lanes, clock)
    result = Executor(engine).advance()
    assert result.status is Status.HELD and "does not decode" in result.reason
    assert engine.router.current() == {EC2: 100, FARGATE: 0}


def test_validate_holds_on_the_servers_latency_not_the_round_trip(make_engine, soundbite_lanes,
                                                                  clock, lane_latency):
    lane_latency[FARGATE] = 450.0  # the transactions themselves answer at once
    engine = _validate_engine(make_engine, soundbite_lanes, clock)
    result = Executor(engine).advance()
    assert result.status is Status.HELD
    assert "server-side p95 4" in result.reason and "x baseline" in result.reason


def test_the_factory_gives_each_direct_name_a_signed_in_client(fresh_data_plane, boto_session,
                                                               zone, soundbite_lanes):
    for lane in soundbite_lanes.values():
        lane.token = "tok-9"
    zone_id, record = zone
    target = Target(stack="dev", zone_id=zone_id, record_name=record,
                    environment=fresh_data_plane.environment, ledger_table=fresh_data_plane.ledger_table,
                    direct_urls={k: v.url for k, v in soundbite_lanes.items()},
                    **edge_target_fields(fresh_data_plane.environment),
                    synthetic_auth={"token_command": f"{sys.executable} -c \"print('tok-9')\""})
    engine = build_engine(target, quick_plan(), session=boto_session)
    assert set(engine.direct_clients) == {EC2, FARGATE}
    assert all(c.transaction().ok for c in engine.direct_clients.values())
    without = build_engine(replace(target, synthetic_auth=None), quick_plan(), session=boto_session)
    assert without.direct_clients == {}  # validate probes the health path, as before


def test_synthetic_auth_is_one_way_of_signing_in():
    from migration.exceptions import ConfigError
    from migration.schemas import target_fields

    assert target_fields({"synthetic_auth": {"anonymous": True}}, "t")["synthetic_auth"]
    with pytest.raises(ConfigError, match="synthetic_auth"):
        target_fields({"synthetic_auth": {"token_command": "x", "client_id": "c"}}, "t")
    with pytest.raises(ConfigError, match="synthetic_auth"):
        target_fields({"synthetic_auth": {"client_id": "c", "username": "u"}}, "t")
