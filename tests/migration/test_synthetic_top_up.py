"""Thin traffic is topped up, not waited out: synthetic transactions on the canary's direct
name fill the judge's sample, counted apart from real requests (never traffic share).

The sizing rule and the judge on simulated numbers; the soak on the emulator with thin real
traffic and the canary's API on a real socket."""

from __future__ import annotations

import pytest

from migration.analysis import synthetic_top_up
from migration.executor import Executor, Status
from migration.judge import LaneWindow, Measurements, Outcome, judge
from migration.plan import SyntheticTopUp, quick_plan
from migration.schemas import plan_from_mapping
from migration.synthetic import SoundbiteClient

from .conftest import EC2, FARGATE
from .fixtures_soundbite import soundbite_lanes_fixture  # noqa: F401 - the soundbite_lanes fixture


def test_the_shortfall_real_traffic_will_not_fill_is_topped_up_within_rate_and_max():
    # 100 more needed, real traffic brings 1/s for 30 s: 70 short, 3 requests a transaction
    assert synthetic_top_up(100, 1.0, 30, rate=50, interval=1, used=0, most=100) == 24
    assert synthetic_top_up(100, 1.0, 30, rate=5, interval=1, used=0, most=100) == 5
    assert synthetic_top_up(100, 1.0, 30, rate=50, interval=1, used=95, most=100) == 5
    assert synthetic_top_up(100, 10.0, 30, rate=50, interval=1, used=0, most=100) == 0
    assert synthetic_top_up(100, 10.0, 0, rate=50, interval=1, used=0, most=100) == 34


def test_the_plan_declares_the_top_up():
    assert quick_plan().synthetic == SyntheticTopUp(2.0, 60)
    assert plan_from_mapping({"synthetic": {"rate": 2, "max": 30}}).synthetic == SyntheticTopUp(2, 30)
    from migration.exceptions import PlanError

    with pytest.raises(PlanError, match="synthetic.max"):
        plan_from_mapping({"synthetic": {"rate": 2, "max": 0}})


def test_synthetic_requests_fill_the_sample_but_not_the_traffic_share():
    # 1000 real canary requests of 20000 is the intended 5 %; 900 synthetic ones on top
    topped = Measurements(canary=LaneWindow(1900, 0, 80), baseline=LaneWindow(19000, 20, 80),
                          intended_share=0.05, synthetic_canary=LaneWindow(900, 0))
    verdict = judge(topped)
    assert verdict.outcome is Outcome.PASS, verdict.reason
    assert "900 synthetic" in verdict.reason
    assert verdict.evidence["measurements"]["synthetic_canary"]["requests"] == 900
    as_real = Measurements(canary=LaneWindow(1900, 0, 80), baseline=LaneWindow(19000, 20, 80),
                           intended_share=0.05)
    assert "traffic-share" in [f.rule for f in judge(as_real).findings]


def test_inconclusive_says_how_many_of_its_requests_were_synthetic():
    measured = Measurements(canary=LaneWindow(30, 0, 80), baseline=LaneWindow(600, 1, 80),
                            intended_share=0.05, synthetic_canary=LaneWindow(27, 0))
    verdict = judge(measured)
    assert verdict.outcome is Outcome.INCONCLUSIVE and "27 synthetic" in verdict.reason


# --- the soak on the emulator ---------------------------------------------------------------


def _thin(make_engine, traffic, soundbite_lanes, clock, plan):
    client = SoundbiteClient(FARGATE, soundbite_lanes[FARGATE].url, sleep=clock.sleep)
    # This canary server has no load balancer in front to count its requests, so the top-up
    # adds its synthetic requests to the sample itself.
    engine = make_engine(plan=plan, direct_clients={FARGATE: client}, synthetic_in_metrics=False)
    traffic().rate = 20  # the 5 % step sees one real canary request a second
    engine.ledger.commit("validated", state={"validated": True})
    return engine


def test_a_thin_canary_is_topped_up_and_promoted(make_engine, traffic, soundbite_lanes, clock):
    engine = _thin(make_engine, traffic, soundbite_lanes, clock, quick_plan())
    result = Executor(engine).advance()
    assert (result.status, result.step) == (Status.PROMOTED, "shift-5"), result.reason
    made = len(soundbite_lanes[FARGATE].created)
    assert 0 < made <= quick_plan().synthetic.max
    assert "synthetic" in result.reason
    last = result.verdicts[-1]["evidence"]["measurements"]
    assert last["synthetic_canary"]["requests"] >= 3 * made - 3
    entries = [e for e in engine.ledger.events(limit=500) if e.get("kind") == "synthetic"]
    assert entries and 0 < sum(e["transactions"] for e in entries) <= made  # some may still run


def test_without_a_top_up_the_same_thin_canary_is_held(make_engine, traffic, soundbite_lanes, clock):
    from dataclasses import replace

    engine = _thin(make_engine, traffic, soundbite_lanes, clock, replace(quick_plan(), synthetic=None))
    result = Executor(engine).advance()
    assert result.status is Status.HELD and "more canary requests" in result.reason
    assert soundbite_lanes[FARGATE].created == []


def test_a_canary_that_fails_its_synthetic_transactions_is_rolled_back(make_engine, traffic,
                                                                       soundbite_lanes, clock):
    soundbite_lanes[FARGATE].create_status = 503
    engine = _thin(make_engine, traffic, soundbite_lanes, clock, quick_plan())
    result = Executor(engine).advance()
    assert result.status is Status.ROLLED_BACK, result.reason
    assert engine.router.current() == {EC2: 100, FARGATE: 0}


class GatedClient:
    """A canary client whose transactions wait at a gate the test holds shut."""

    def __init__(self):
        import threading

        self.gate, self.started = threading.Event(), 0

    def transaction(self):
        from migration.synthetic import Transaction

        self.started += 1
        self.gate.wait(60)
        return Transaction(FARGATE, True, "done", "released", requests=3)


@pytest.mark.timeout(120)
def test_a_stuck_synthetic_transaction_never_stops_the_looks(make_engine, traffic, clock):
    client = GatedClient()
    engine = make_engine(plan=quick_plan(), direct_clients={FARGATE: client})
    traffic().rate = 20
    engine.ledger.commit("validated", state={"validated": True})
    try:
        result = Executor(engine).advance()
    finally:
        client.gate.set()

    assert client.started > 0, "the thin canary was topped up"
    assert result.status is Status.HELD and "more canary requests" in result.reason, result.reason
    assert len(result.verdicts) > 3, "the soak kept judging while its transactions were stuck"


def test_synthetic_requests_the_metrics_cannot_see_never_make_a_latency_sample():
    """Where the metrics time only real requests, 146 synthetic ones fill the error sample, and
    the p95 of the 4 real ones (their maximum) is not judged as a tail."""
    def look(timed):
        canary = LaneWindow(150, 0, 950, timed_requests=timed)
        return judge(Measurements(canary=canary, baseline=LaneWindow(2000, 0, 530),
                                  intended_share=0.05, synthetic_canary=LaneWindow(146, 0)),
                     quick_plan().judge)

    assert look(4).outcome is Outcome.PASS, look(4).reason
    assert look(40).outcome is Outcome.FAIL and "p95 950 ms" in look(40).reason
