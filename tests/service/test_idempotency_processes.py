"""Two real gunicorn API processes (an EC2 lane and a Fargate lane) sharing one data plane
receive the same Idempotency-Key at the same moment: one soundbite, one job, per key."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
import uuid
from collections import Counter

from tests.service.conftest import bearer

KEYS = 4
REQUESTS_PER_KEY = 6


def post(url: str, key: str, body: bytes) -> tuple[int, dict, dict]:
    request = urllib.request.Request(f"{url}/v1/soundbites", data=body, method="POST", headers={
        "Content-Type": "application/json", "Idempotency-Key": key, **bearer("racer")})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def test_same_key_on_two_processes_at_once_creates_exactly_one_soundbite(api_server, written):
    lanes = [api_server("ec2"), api_server("fargate")]
    results: dict[str, list] = {}
    for n in range(KEYS):
        key = str(uuid.uuid4())
        body = json.dumps({"text": f"race number {n}"}).encode()
        barrier = threading.Barrier(REQUESTS_PER_KEY)
        answers: list = []

        def fire(url: str, key=key, body=body, barrier=barrier, answers=answers) -> None:
            barrier.wait()
            answers.append(post(url, key, body))

        threads = [threading.Thread(target=fire, args=(lanes[i % 2].url,))
                   for i in range(REQUESTS_PER_KEY)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        results[key] = answers

    assert written() == {"records": KEYS, "jobs": KEYS}
    for key, answers in results.items():
        assert len(answers) == REQUESTS_PER_KEY
        statuses = Counter(status for status, _, _ in answers)
        assert set(statuses) <= {202, 409}, answers
        originals = [a for a in answers if a[0] == 202 and "Idempotent-Replayed" not in a[1]]
        assert len(originals) == 1, f"{key}: {statuses}"
        created_id = originals[0][2]["id"]
        for status, headers, body in answers:
            if status == 202:
                assert body["id"] == created_id
            else:
                assert body["type"].endswith("idempotency-in-progress")
                assert int(headers["Retry-After"]) >= 1
        # Once done, either stack replays the same answer.
        for lane in lanes:
            status, headers, body = post(lane.url, key, json.dumps(
                {"text": f"race number {list(results).index(key)}"}).encode())
            assert (status, headers.get("Idempotent-Replayed"), body["id"]) == (202, "true", created_id)
