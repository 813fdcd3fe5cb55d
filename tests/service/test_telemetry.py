"""Requests are counted and timed in EMF records labelled by environment and backend, and
each leaves one JSON log line with its correlation id."""

from __future__ import annotations

import json
import os

from service.api import telemetry
from soundbite.core import logs


def test_requests_are_counted_and_timed_with_environment_and_backend(metrics_lines,
                                                                      fresh_data_plane):
    build, lines = metrics_lines
    client = build(backend="fargate").test_client()
    client.get("/healthz")
    client.get("/v1/soundbites/not-an-id")
    records = [r for r in lines() if "RequestLatency" in r]
    assert len(records) == 1, "one record per interval, not one line per request"
    record = records[0]
    assert record["Requests"] == 2
    assert len(record["RequestLatency"]) == 2 and all(v > 0 for v in record["RequestLatency"])
    assert (record["Environment"], record["Backend"]) == (fresh_data_plane.environment, "fargate")
    directive = record["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "SoundBite"
    assert directive["Dimensions"] == [["Backend", "Environment"]]
    assert {"Name": "RequestLatency", "Unit": "Milliseconds"} in directive["Metrics"]
    assert {"Name": "Requests", "Unit": "Count"} in directive["Metrics"]
    client.get("/healthz")
    assert [r["Requests"] for r in lines() if "RequestLatency" in r] == [2, 1], \
        "the next interval holds only the requests since"


def test_each_request_is_logged_once_with_its_correlation_id(make_app, capsys):
    logs.configure("INFO", service="soundbite-api", backend="fargate")
    client = make_app(backend="fargate").test_client()
    sent = client.get("/healthz", headers={"X-Correlation-Id": "trace-42"})
    made = client.get("/v1/soundbites/not-an-id")
    entries = [json.loads(line) for line in capsys.readouterr().err.splitlines()
               if line.startswith("{")]
    requests = [e for e in entries if e.get("event") == "request"]
    assert [(e["path"], e["status"], e["correlation_id"]) for e in requests] == [
        ("/healthz", 200, "trace-42"),
        ("/v1/soundbites/not-an-id", 400, made.headers["X-Correlation-Id"])]
    assert sent.headers["X-Correlation-Id"] == "trace-42"
    for entry in requests:
        assert entry["level"] == "info" and entry["logger"] == "soundbite.api"
        assert (entry["service"], entry["backend"]) == ("soundbite-api", "fargate")
        assert entry["ts"].endswith("Z") and entry["duration_ms"] >= 0


def test_new_correlation_ids_never_repeat_within_or_across_processes(make_app):
    client = make_app().test_client()
    made = [client.get("/healthz").headers["X-Correlation-Id"] for _ in range(50)]
    assert len(set(made)) == 50
    assert all(len(made_id) == 32 and int(made_id, 16) >= 0 for made_id in made)
    # A forked worker (gunicorn forks its workers) takes ids of its own.
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        os.write(write, telemetry.new_correlation_id().encode())
        os._exit(0)
    os.close(write)
    forked = os.read(read, 64).decode()
    os.waitpid(child, 0)
    os.close(read)
    assert len(forked) == 32 and forked[:16] != made[0][:16]
    assert forked not in made
