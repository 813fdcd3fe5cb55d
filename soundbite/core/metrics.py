"""CloudWatch Embedded Metric Format lines on stdout, serialised by Powertools for AWS.

Dimensions always include the environment and the backend (`SOUNDBITE_BACKEND`), so the
dashboard can put EC2 and Fargate side by side.

Two ways to record:

- `emit` writes one record now: events worth a line of their own (a soundbite created, a
  worker's job, a redrive), with properties that identify them.
- `add` buffers per-request numbers: counts are summed and samples (latencies) kept as a list,
  written as one record every `spec.METRICS_FLUSH_SECONDS`, when a sample list reaches EMF's
  100 values, and when the process exits. CloudWatch computes sums and percentiles from the
  lists as it would from one record per request, without a line per request.
"""

from __future__ import annotations

import atexit
import json
import sys
import threading
import time
import weakref
from typing import TextIO

from aws_lambda_powertools.metrics import EphemeralMetrics

from soundbite import spec

NAMESPACE = "SoundBite"
MAX_VALUES = 100
"""EMF's limit on values per metric in one record."""


class MetricsEmitter:
    def __init__(self, environment: str, backend: str, namespace: str = NAMESPACE,
                 stream: TextIO | None = None, now=time.time,
                 flush_seconds: float = spec.METRICS_FLUSH_SECONDS) -> None:
        self.namespace = namespace
        self.dimensions = {"Environment": environment, "Backend": backend}
        self._stream = stream
        self._now = now
        self._flush_seconds = flush_seconds
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[float, str]] = {}
        self._samples: dict[str, tuple[list[float], str]] = {}
        self._flusher: threading.Thread | None = None
        self._stopped = threading.Event()

    def emit(self, metrics: dict[str, tuple[float, str]], properties: dict | None = None,
             dimensions: dict[str, str] | None = None) -> dict:
        """Write one EMF record now. `metrics` maps a name to (value, CloudWatch unit)."""
        serializer = EphemeralMetrics(namespace=self.namespace)
        for name, (value, unit) in metrics.items():
            serializer.add_metric(name=name, unit=unit, value=value)
        return self._write(serializer, serializer.metric_set, dimensions, properties)

    def add(self, counts: dict[str, tuple[float, str]] | None = None,
            samples: dict[str, tuple[float, str]] | None = None) -> None:
        """Buffer numbers for the next interval's record: `counts` are summed, `samples` kept."""
        full = False
        with self._lock:
            for name, (value, unit) in (counts or {}).items():
                total, _ = self._counts.get(name, (0, unit))
                self._counts[name] = (total + value, unit)
            for name, (value, unit) in (samples or {}).items():
                values = self._samples.setdefault(name, ([], unit))[0]
                values.append(value)
                full = full or len(values) >= MAX_VALUES
            if self._flusher is None:
                self._start_flusher()
        if full:
            self.flush()

    def flush(self) -> dict | None:
        """Write what `add` buffered as one record (nothing when nothing was added)."""
        with self._lock:
            counts, self._counts = self._counts, {}
            samples, self._samples = self._samples, {}
        if not counts and not samples:
            return None
        metrics = {name: {"Unit": unit, "StorageResolution": 60, "Value": [float(total)]}
                   for name, (total, unit) in counts.items()}
        metrics.update({name: {"Unit": unit, "StorageResolution": 60, "Value": values}
                        for name, (values, unit) in samples.items()})
        return self._write(EphemeralMetrics(namespace=self.namespace), metrics, None, None)

    def close(self) -> None:
        self._stopped.set()
        self.flush()

    def _write(self, serializer: EphemeralMetrics, metrics: dict, dimensions: dict | None,
               properties: dict | None) -> dict:
        record = serializer.serialize_metric_set(
            metrics={name: {**metric, "Value": _one_or_many(metric["Value"])}
                     for name, metric in metrics.items()},
            dimensions=dict(sorted({**self.dimensions, **(dimensions or {})}.items())),
            metadata=properties or {})
        record["_aws"]["Timestamp"] = int(self._now() * 1000)
        line = json.dumps(record, separators=(",", ":"), default=str)
        with self._lock:
            stream = self._stream or sys.stdout
            stream.write(line + "\n")
            stream.flush()
        return record

    def _start_flusher(self) -> None:
        # Started on first use, so each (forked) gunicorn worker runs its own.
        # The thread holds the emitter weakly: an emitter nobody uses any more (a test's app)
        # lets its thread end at the next tick.
        owner = weakref.ref(self)
        stopped, interval = self._stopped, self._flush_seconds

        def run() -> None:
            while not stopped.wait(interval):
                emitter = owner()
                if emitter is None:
                    return
                emitter.flush()
                del emitter

        self._flusher = threading.Thread(target=run, name="emf-flush", daemon=True)
        self._flusher.start()
        atexit.register(_close_if_alive, owner)


def _close_if_alive(owner: weakref.ref) -> None:
    emitter = owner()
    if emitter is not None:
        emitter.close()


def _one_or_many(values: list[float]) -> float | list[float]:
    return values[0] if len(values) == 1 else values
