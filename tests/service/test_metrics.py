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
