"""The worker's CloudWatch EMF records: one per job, one per voice synthesized, one per redrive.

Per job: outcome (as a dimension, so failures and retries graph on their own), queue wait
(enqueue to start), text length, synthesis time and audio duration. Per synthesis: the voice
(as a dimension: the seed's voice distribution). Per redrive run: what moved and what did not.
"""

from __future__ import annotations

from dataclasses import dataclass

from soundbite.core.metrics import MetricsEmitter


@dataclass(frozen=True)
class JobMeasurements:
    """What one job measured; None where the job stopped before that step."""

    outcome: str
    soundbite_id: str
    correlation_id: str
    receive_count: int
    queue_wait_seconds: float | None = None
    voice: str | None = None
    text_length: int | None = None
    synthesis_seconds: float | None = None
    audio_seconds: float | None = None
    error: str | None = None


class WorkerMetrics:
    def __init__(self, emitter: MetricsEmitter) -> None:
        self.emitter = emitter

    def job(self, m: JobMeasurements) -> None:
        metrics: dict[str, tuple[float, str]] = {"Jobs": (1, "Count")}
        if m.queue_wait_seconds is not None:
            metrics["QueueWait"] = (round(m.queue_wait_seconds * 1000, 1), "Milliseconds")
        if m.text_length is not None:
            metrics["TextLength"] = (m.text_length, "Count")
        if m.synthesis_seconds is not None:
            metrics["SynthesisTime"] = (round(m.synthesis_seconds * 1000, 1), "Milliseconds")
        if m.audio_seconds is not None:
            metrics["AudioDuration"] = (round(m.audio_seconds, 3), "Seconds")
        properties = {
            "soundbiteId": m.soundbite_id, "correlationId": m.correlation_id,
            "receiveCount": m.receive_count, "voice": m.voice,
        }
        if m.error:
            properties["error"] = m.error
        self.emitter.emit(metrics, properties=properties, dimensions={"Outcome": m.outcome})
        if m.synthesis_seconds is not None and m.voice:
            self.emitter.emit(
                {"Syntheses": (1, "Count"),
                 "SynthesisTime": (round(m.synthesis_seconds * 1000, 1), "Milliseconds")},
                dimensions={"Voice": m.voice},
            )

    def redrive(self, redriven: int, refused: int, failed: int, dry_run: bool) -> None:
        self.emitter.emit(
            {"Redriven": (redriven, "Count"), "RedriveRefused": (refused, "Count"),
             "RedriveFailed": (failed, "Count")},
            properties={"dryRun": dry_run},
        )
