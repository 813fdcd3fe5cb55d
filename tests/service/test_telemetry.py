"""Every request leaves one EMF record with its latency, labelled by environment and backend."""

from __future__ import annotations


def test_each_request_emits_latency_with_environment_and_backend(metrics_lines, fresh_data_plane):
    build, lines = metrics_lines
    client = build(backend="fargate").test_client()
    client.get("/healthz")
    client.get("/v1/soundbites/not-an-id")
    records = [r for r in lines() if "RequestLatency" in r]
    assert [(r["route"], r["status"]) for r in records] == [
        ("/healthz", 200), ("/v1/soundbites/<soundbite_id>", 400)]
    for record in records:
        assert (record["Environment"], record["Backend"]) == (fresh_data_plane.environment, "fargate")
        directive = record["_aws"]["CloudWatchMetrics"][0]
        assert directive["Dimensions"] == [["Backend", "Environment"]]
        assert {"Name": "RequestLatency", "Unit": "Milliseconds"} in directive["Metrics"]
        assert record["RequestLatency"] > 0
        assert len(record["correlationId"]) == 32
