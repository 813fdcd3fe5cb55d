"""Abuse against a real gunicorn server: over-limit clients, oversized and malformed input,
slow clients and a CSP report flood must not hurt anyone else."""

from __future__ import annotations

import contextlib
import json
import socket
import time
import uuid

import pytest

from service.api.csp_report import LOG_LINES_PER_MINUTE
from tests.verify.conftest import Recorder

ALB_HOP = "10.0.0.2"
"""What the load balancer appends to X-Forwarded-For: the one hop the service trusts."""


def via_alb(client_ip: str, forged: str = "") -> dict:
    return {"X-Forwarded-For": ", ".join(x for x in (forged, client_ip) if x)}


def raw(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (TimeoutError, ConnectionResetError):
            pass
        return b"".join(chunks)


def still_served(client: Recorder) -> None:
    """A newcomer (fresh connection, its own address) is answered promptly."""
    fresh = Recorder(client.base_url, read_timeout=client.http.connection_pool_kw["timeout"].read_timeout)
    seen = fresh.request("GET", "/v1/voices", headers=via_alb("192.0.2.200"))
    assert seen.status == 200 and seen.seconds < 3, seen


@pytest.mark.verify
def test_a_client_over_the_limit_gets_429s_and_another_does_not_notice(deployment):
    lane = deployment.lane(SOUNDBITE_RATE_LIMIT="10 per minute", SOUNDBITE_WEB_WORKERS="1")
    client = Recorder(lane.url)
    greedy = [client.request("GET", "/v1/voices", headers=via_alb("198.51.100.1"))
              for _ in range(14)]
    assert [s.status for s in greedy] == [200] * 10 + [429] * 4
    limited = greedy[-1]
    assert limited.content_type == "application/problem+json"
    assert int(limited.headers["Retry-After"]) >= 1
    # Forging X-Forwarded-For does not help: the trusted hop appends the real address.
    forged = client.request("GET", "/v1/voices", headers=via_alb("198.51.100.1", "198.51.100.2"))
    assert forged.status == 429
    other = client.request("GET", "/v1/voices", headers=via_alb("198.51.100.2"))
    assert other.status == 200 and other.headers["RateLimit-Remaining"] == "9"


@pytest.mark.verify
def test_oversized_and_malformed_requests_are_refused_and_the_service_stays_up(deployment):
    lane = deployment.lane()
    client = Recorder(lane.url)
    # The server closes a connection whose body it refused unread: do not reuse those.
    key = {"Idempotency-Key": str(uuid.uuid4()), "Content-Type": "application/json",
           "Connection": "close"}

    huge_header = raw(lane.port, b"GET /v1/voices HTTP/1.1\r\nHost: x\r\nX-Big: "
                      + b"a" * 64 * 1024 + b"\r\n\r\n")
    assert huge_header.startswith(b"HTTP/1.1 4"), huge_header[:80]
    many = b"".join(b"X-%d: 1\r\n" % n for n in range(500))
    too_many = raw(lane.port, b"GET /v1/voices HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    assert too_many.startswith(b"HTTP/1.1 4"), too_many[:80]
    still_served(client)

    big = client.request("POST", "/v1/soundbites", body=b"{" + b" " * 8 * 1024 * 1024 + b"}",
                         headers=key)
    assert big.status == 413 and big.content_type == "application/problem+json"
    deep = client.request("POST", "/v1/soundbites", body=b"[" * 60000 + b"]" * 60000, headers=key)
    assert deep.status in (400, 413) and deep.content_type == "application/problem+json"
    nested = ('{"text": ' + "[" * 30000 + "]" * 30000 + "}").encode()
    deep2 = client.request("POST", "/v1/soundbites", body=nested,
                           headers={**key, "Idempotency-Key": str(uuid.uuid4())})
    assert deep2.status == 400 and deep2.content_type == "application/problem+json", deep2
    bad_utf8 = client.request("POST", "/v1/soundbites", body=b'{"text": "\xff\xfe\xc3("}',
                              headers={**key, "Idempotency-Key": str(uuid.uuid4())})
    assert bad_utf8.status == 400 and json.loads(bad_utf8.body)["errors"]
    bad_path = raw(lane.port, b"GET /v1/soundbites/\xff\xfe HTTP/1.1\r\nHost: x\r\n"
                   b"Connection: close\r\n\r\n")
    assert bad_path.split(b" ", 2)[1] in (b"400", b"404"), bad_path[:80]
    bad_query = client.request("GET", "/v1/soundbites?user_id=%ff%fe&limit=%ff")
    assert bad_query.status == 400, bad_query
    assert all(s.status < 500 for s in client.seen), [s.status for s in client.seen]
    still_served(client)
    assert "unhandled error" not in deployment.log_text()


@pytest.mark.verify
@pytest.mark.timeout(90)
@pytest.mark.xfail(strict=True, reason=(
    "gunicorn's gthread worker reads a request's headers in one of its threads, so a few "
    "clients trickling headers hold every thread; in AWS the ALB only forwards complete "
    "requests, which shields it. Fixing it here needs an async front (e.g. nginx) or worker."))
def test_slow_clients_trickling_headers_do_not_starve_the_others(deployment):
    lane = deployment.lane(SOUNDBITE_WEB_WORKERS="1", SOUNDBITE_WEB_THREADS="4")
    client = Recorder(lane.url, read_timeout=5)
    slow = []
    for _ in range(12):  # three times the server's threads
        sock = socket.create_connection(("127.0.0.1", lane.port), timeout=5)
        sock.sendall(b"GET /v1/voices HTTP/1.1\r\nHost: x\r\n")
        slow.append(sock)
    try:
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            for sock in slow:
                with contextlib.suppress(OSError):
                    sock.sendall(b"X-a: b\r\n")  # a header line at a time, never finishing
            still_served(client)
            time.sleep(1)
    finally:
        for sock in slow:
            sock.close()


@pytest.mark.verify
def test_a_csp_report_flood_is_bounded_and_sampled_in_the_logs(deployment):
    lane = deployment.lane(SOUNDBITE_RATE_LIMIT="100 per 15 minutes", SOUNDBITE_WEB_WORKERS="2")
    client = Recorder(lane.url)
    report = json.dumps({"csp-report": {"document-uri": "https://x/", "violated-directive":
                                        "script-src", "blocked-uri": "inline" + "x" * 2000}})
    answers = [client.request("POST", "/api/csp-report", body=report,
                              headers={"Content-Type": "application/csp-report",
                                       **via_alb("198.51.100.7")}).status
               for _ in range(130)]
    # No Redis and two workers: each enforces half of the limit, so one client gets at least
    # one half and never more than the whole.
    assert 50 <= answers.count(204) <= 100, answers
    assert answers.count(204) + answers.count(429) == 130, answers
    huge = client.request("POST", "/api/csp-report", body=b"{" + b" " * 100_000 + b"}",
                          headers={"Content-Type": "application/csp-report",
                                   **via_alb("198.51.100.8")})
    assert huge.status == 413
    logged = [line for line in deployment.log_text().splitlines() if "csp violation" in line]
    assert 1 <= len(logged) <= 2 * LOG_LINES_PER_MINUTE  # one budget per gunicorn worker
    assert max(len(line) for line in logged) < 4096, "each logged field is truncated"
    still_served(client)
