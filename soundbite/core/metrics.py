"""CloudWatch Embedded Metric Format: one JSON line per event that CloudWatch turns into metrics.

Dimensions always include the environment and the backend (`SOUNDBITE_BACKEND`), so the
dashboard can put EC2 and Fargate side by side.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import TextIO

NAMESPACE = "SoundBite"


class MetricsEmitter:
    def __init__(self, environment: str, backend: str, namespace: str = NAMESPACE,
                 stream: TextIO | None = None, now=time.time) -> None:
        self.namespace = namespace
        self.dimensions = {"Environment": environment, "Backend": backend}
        self._stream = stream
        self._now = now
        self._lock = threading.Lock()

    def emit(self, metrics: dict[str, tuple[float, str]], properties: dict | None = None,
             dimensions: dict[str, str] | None = None) -> dict:
        """Write one EMF record. `metrics` maps a name to (value, CloudWatch unit)."""
        dims = {**self.dimensions, **(dimensions or {})}
        record = {
            "_aws": {
                "Timestamp": int(self._now() * 1000),
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [sorted(dims)],
                    "Metrics": [{"Name": name, "Unit": unit} for name, (_, unit) in metrics.items()],
                }],
            },
            **dims,
            **(properties or {}),
            **{name: value for name, (value, _) in metrics.items()},
        }
        line = json.dumps(record, separators=(",", ":"), default=str)
        with self._lock:
            stream = self._stream or sys.stdout
            stream.write(line + "\n")
            stream.flush()
        return record
