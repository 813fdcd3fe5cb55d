"""The Route 53 router against the emulator: one atomic batch, read back, refusals."""

from __future__ import annotations

import pytest

from migration.exceptions import RouterError
from migration.router import Route53WeightedRouter

from .conftest import EC2, FARGATE


@pytest.fixture
def router(zone, route53):
    return Route53WeightedRouter(*zone, client=route53)


def test_set_weights_changes_both_records_and_keeps_their_targets(router):
    before = router.records()
    router.set_weights({EC2: 75, FARGATE: 25})
    router.verify({EC2: 75, FARGATE: 25})
    after = router.records()
    assert router.current() == {EC2: 75, FARGATE: 25}
    for stack in (EC2, FARGATE):
        assert after[stack]["ResourceRecords"] == before[stack]["ResourceRecords"]
        assert after[stack]["TTL"] == before[stack]["TTL"]


def test_all_zero_weights_are_refused_and_nothing_changes(router):
    with pytest.raises(RouterError, match="all-zero"):
        router.set_weights({EC2: 0, FARGATE: 0})
    assert router.current() == {EC2: 100, FARGATE: 0}


def test_unknown_stack_and_missing_record_are_refused(zone, route53):
    router = Route53WeightedRouter(zone[0], "other." + zone[1], client=route53)
    with pytest.raises(RouterError, match="missing target"):
        router.set_weights({EC2: 50, FARGATE: 50})
    with pytest.raises(RouterError, match="unknown stack"):
        router.set_weights({"lambda": 1})


def test_verify_reports_what_route53_shows(router):
    with pytest.raises(RouterError, match="expected"):
        router.verify({EC2: 50, FARGATE: 50})


def test_insync_is_polled_soon_then_less_often_up_to_the_plans_interval():
    """A change Route 53 applies in a second is seen within about a second; a slow one costs
    one GetChange every poll interval, never more."""
    answers = iter(["PENDING"] * 5 + ["INSYNC"])

    class SlowRoute53:
        calls = 0

        def get_change(self, Id):  # noqa: N803 - boto3's name
            SlowRoute53.calls += 1
            return {"ChangeInfo": {"Id": Id, "Status": next(answers)}}

    waits = []
    router = Route53WeightedRouter("Z1", "api.example.com", client=SlowRoute53(),
                                   sleep=waits.append, poll_seconds=5)
    router.wait_insync("C1", "PENDING")
    assert waits == [1, 2, 4, 5, 5, 5] and SlowRoute53.calls == 6
    quick = Route53WeightedRouter("Z1", "api.example.com", client=SlowRoute53(),
                                  sleep=waits.append, poll_seconds=0.2)
    waits.clear()
    answers = iter(["INSYNC"])
    quick.wait_insync("C2", "PENDING")
    assert waits == [0.2], "a plan polling faster than the first wait keeps its own interval"
