"""Rate limits: standard headers, 429 problems, exemptions, one trusted proxy hop, and Redis
(shared between instances, and replaced by memory while it is down)."""

from __future__ import annotations

import time
import uuid

import pytest

from soundbite.core.config import ConfigError, Settings
from tests.service.test_api_core import assert_problem

LIMITED = "/openapi.json"  # rate limited, and needs no AWS call: the counts are all we test


def limited_app(make_app, limit="3 per 15 minutes", **overrides):
    return make_app(rate_limit=limit, **overrides)


def hit(client, path=LIMITED, ip="203.0.113.7", **headers):
    return client.get(path, headers={"X-Forwarded-For": ip, **headers})


def test_headers_count_down_and_reset_is_seconds_not_an_epoch(make_app):
    client = limited_app(make_app).test_client()
    seen = [hit(client) for _ in range(3)]
    assert [r.status_code for r in seen] == [200, 200, 200]
    assert [r.headers["RateLimit-Remaining"] for r in seen] == ["2", "1", "0"]
    for response in seen:
        assert response.headers["RateLimit-Limit"] == "3"
        assert 0 < int(response.headers["RateLimit-Reset"]) <= 15 * 60
        assert "Retry-After" not in response.headers
        assert "X-RateLimit-Reset" not in response.headers


def test_over_the_limit_is_a_429_problem_with_retry_after(make_app, metrics_lines):
    build, lines = metrics_lines
    client = build(rate_limit="2 per 15 minutes").test_client()
    hit(client), hit(client)
    response = hit(client)
    body = assert_problem(response, 429)
    assert "2 per 15 minute" in body["detail"]
    assert 0 < int(response.headers["Retry-After"]) <= 15 * 60
    assert response.headers["RateLimit-Remaining"] == "0"
    records = [r for r in lines() if "RequestLatency" in r]
    assert [(r["Requests"], r["RateLimited"]) for r in records] == [(3, 1)]


def test_the_limit_is_per_client_across_all_routes(make_app):
    client = limited_app(make_app, "2 per 15 minutes").test_client()
    hit(client, "/openapi.json"), hit(client, "/v1/soundbites/not-an-id")
    assert hit(client, "/").status_code == 429
    assert hit(client, "/", ip="203.0.113.8").status_code == 200


def test_requests_without_a_valid_token_are_limited_too(make_app):
    """Sign-in is checked after the limit: a flood of bad or missing tokens meets 429 like any
    other, instead of a signature check (or key fetch) per request forever."""
    client = limited_app(make_app, "2 per 15 minutes").test_client()
    bad = {"Authorization": "Bearer not-a-token"}
    assert [hit(client, "/v1/soundbites", **bad).status_code for _ in range(2)] == [401, 401]
    assert_problem(hit(client, "/v1/soundbites", **bad), 429)
    assert_problem(hit(client, "/v1/soundbites", Authorization=""), 429)


def test_health_checks_are_never_limited(make_app):
    client = limited_app(make_app, "1 per 15 minutes").test_client()
    hit(client)
    for _ in range(3):
        for path in ("/healthz", "/readyz"):
            response = hit(client, path)
            assert response.status_code == 200
            assert "RateLimit-Limit" not in response.headers
    assert hit(client).status_code == 429


def test_internal_callers_with_the_token_are_exempt_and_others_are_not(make_app):
    client = limited_app(make_app, "1 per 15 minutes", internal_token="s3cret-token").test_client()
    hit(client)
    for _ in range(3):
        assert hit(client, **{"X-Internal-Token": "s3cret-token"}).status_code == 200
    assert hit(client, **{"X-Internal-Token": "s3cret-tokeN"}).status_code == 429
    assert hit(client, **{"X-Internal-Token": ""}).status_code == 429


def test_no_token_configured_means_no_internal_bypass(make_app):
    client = limited_app(make_app, "1 per 15 minutes").test_client()
    hit(client)
    assert hit(client, **{"X-Internal-Token": ""}).status_code == 429


def test_client_address_is_the_one_the_load_balancer_saw(make_app):
    """The ALB appends the address it saw; anything a client wrote before it is ignored."""
    client = limited_app(make_app, "1 per 15 minutes").test_client()
    assert hit(client, ip="198.51.100.1, 10.0.0.9").status_code == 200
    # A forged first entry does not buy a fresh quota: the last hop is the same client.
    assert hit(client, ip="198.51.100.2, 10.0.0.9").status_code == 429
    assert hit(client, ip="10.0.0.10").status_code == 200


def test_a_bad_limit_setting_is_a_clear_configuration_error(make_app):
    with pytest.raises(ConfigError, match="SOUNDBITE_RATE_LIMIT"):
        make_app(rate_limit="lots")


def test_default_limit_is_the_seed_one():
    assert Settings().rate_limit == "100 per 15 minutes"


def test_redis_counters_are_shared_by_every_instance(make_app, redis_url, fresh_data_plane):
    import redis

    first = limited_app(make_app, redis_url=redis_url).test_client()
    second = limited_app(make_app, redis_url=redis_url).test_client()
    assert hit(first).headers["RateLimit-Remaining"] == "2"
    assert hit(second).headers["RateLimit-Remaining"] == "1"
    assert hit(first).headers["RateLimit-Remaining"] == "0"
    assert hit(second).status_code == 429
    keys = redis.Redis.from_url(redis_url).keys(
        f"LIMITS:LIMITER/soundbite:{fresh_data_plane.environment}:*")
    assert keys, "the counters live in Redis under the environment's prefix"


def test_limits_survive_redis_going_away_and_return_to_it(make_app, throwaway_redis,
                                                         fresh_data_plane):
    client = limited_app(make_app, "5 per 15 minutes", redis_url=throwaway_redis.url).test_client()
    prefix = f"LIMITS:LIMITER/soundbite:{fresh_data_plane.environment}:*"
    assert hit(client).headers["RateLimit-Remaining"] == "4"
    assert throwaway_redis.client().keys(prefix)

    throwaway_redis.stop()
    started = time.monotonic()
    served = [hit(client) for _ in range(6)]
    assert time.monotonic() - started < 3, "a dead Redis must not stall requests"
    # Memory takes over and still enforces the limit (its own count starts afresh).
    assert [r.status_code for r in served] == [200] * 5 + [429]
    assert served[0].headers["RateLimit-Remaining"] == "4"

    throwaway_redis.start()  # an empty Redis on the same port
    deadline = time.monotonic() + 20
    while not throwaway_redis.client().keys(prefix):
        assert time.monotonic() < deadline, "the limiter never went back to Redis"
        hit(client, ip=f"198.51.100.{uuid.uuid4().int % 200}")
        time.sleep(0.2)


def test_while_redis_is_down_each_of_two_workers_enforces_its_share(make_app, throwaway_redis):
    client = limited_app(make_app, "10 per 15 minutes", redis_url=throwaway_redis.url,
                         serving_processes=2).test_client()
    assert hit(client).headers["RateLimit-Limit"] == "10", "Redis counts for every worker"

    throwaway_redis.stop()
    served = [hit(client) for _ in range(6)]

    assert [r.status_code for r in served] == [200] * 5 + [429]
    assert served[0].headers["RateLimit-Limit"] == "5"
