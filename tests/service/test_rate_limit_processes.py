"""The rate limit is one limit however many processes serve: real gunicorn workers, counting
in Redis when it is configured, or each enforcing its share of the limit when it is not."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

LIMITED = "/openapi.json"  # rate limited, and needs no AWS call
CLIENT = {"X-Forwarded-For": "198.51.100.23"}  # one client, as the load balancer saw it

pytestmark = pytest.mark.xdist_group("gunicorn")


def hit(url: str) -> tuple[int, dict[str, str]]:
    """One request on a connection of its own, so the kernel may hand it to any worker."""
    request = urllib.request.Request(url + LIMITED, headers=CLIENT)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers)


def test_without_redis_each_worker_enforces_its_share_and_says_so(api_server):
    lane = api_server(SOUNDBITE_WEB_WORKERS="2", SOUNDBITE_RATE_LIMIT="10 per 15 minutes")

    answers = [hit(lane.url) for _ in range(40)]

    served = [headers for status, headers in answers if status == 200]
    refused = [headers for status, headers in answers if status == 429]
    assert len(served) + len(refused) == 40
    assert 5 <= len(served) <= 10, "never more than the limit across both workers"
    assert {h["RateLimit-Limit"] for _, h in answers} == {"5"}, "the share this worker enforces"
    assert all(h["RateLimit-Remaining"] == "0" for h in refused)
    assert all(int(h["RateLimit-Remaining"]) < 5 for h in served)


def test_with_redis_two_stacks_of_workers_share_one_limit(api_server, throwaway_redis):
    stacks = [api_server(backend, SOUNDBITE_WEB_WORKERS="2", SOUNDBITE_RATE_LIMIT="10 per 15 minutes",
                         SOUNDBITE_REDIS_URL=throwaway_redis.url) for backend in ("ec2", "fargate")]

    answers = [hit(stacks[n % 2].url) for n in range(30)]

    assert [status for status, _ in answers] == [200] * 10 + [429] * 20
    assert [h["RateLimit-Remaining"] for _, h in answers[:10]] == [str(9 - n) for n in range(10)]
    assert {h["RateLimit-Limit"] for _, h in answers} == {"10"}
