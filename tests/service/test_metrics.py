"""EMF records are what CloudWatch expects: declared metrics exist as top-level values."""

import io
import json

from soundbite.core.metrics import MetricsEmitter


def test_emf_record_declares_each_metric_with_environment_and_backend():
    out = io.StringIO()
    MetricsEmitter("prod", "fargate", stream=out, now=lambda: 1700000000.5).emit(
        {"SynthesisTime": (123.4, "Milliseconds"), "TextLength": (200, "Count")},
        properties={"voice": "en-us"}, dimensions={"Voice": "en-us"},
    )
    record = json.loads(out.getvalue())
    meta = record["_aws"]
    assert meta["Timestamp"] == 1700000000500
    directive = meta["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "SoundBite"
    assert directive["Dimensions"] == [["Backend", "Environment", "Voice"]]
    for metric in directive["Metrics"]:
        assert metric["Name"] in record
    assert (record["Environment"], record["Backend"], record["voice"]) == ("prod", "fargate", "en-us")


def test_buffered_numbers_are_one_record_per_interval_and_at_emfs_100_values():
    out = io.StringIO()
    emitter = MetricsEmitter("prod", "ec2", stream=out, flush_seconds=3600)
    for _ in range(3):
        emitter.add(counts={"Requests": (1, "Count")}, samples={"RequestLatency": (2.5, "Milliseconds")})
    assert out.getvalue() == "", "nothing is written per request"
    emitter.flush()
    (record,) = [json.loads(line) for line in out.getvalue().splitlines()]
    assert record["Requests"] == 3 and record["RequestLatency"] == [2.5, 2.5, 2.5]
    assert emitter.flush() is None, "an empty interval writes nothing"

    for _ in range(250):
        emitter.add(samples={"RequestLatency": (1.0, "Milliseconds")})
    emitter.close()
    sizes = [len(json.loads(line)["RequestLatency"]) for line in out.getvalue().splitlines()[1:]]
    assert sizes == [100, 100, 50], "EMF allows 100 values per metric in a record"


def test_the_interval_flusher_writes_without_another_request():
    from tests.waiting import wait_for

    out = io.StringIO()
    emitter = MetricsEmitter("prod", "ec2", stream=out, flush_seconds=0.05)
    emitter.add(counts={"Requests": (1, "Count")})
    wait_for(lambda: out.getvalue(), timeout=10, what="the interval's record")
    assert json.loads(out.getvalue())["Requests"] == 1
    emitter.close()
