"""Start each `--fault` once its lane's live weight reaches the fault's `@WEIGHT`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from infra.local.stack import LocalStack
from migration.rehearsal.edge import Edge
from migration.rehearsal.faults import Fault


class FaultInjector:
    """Starts each fault once its lane's live weight reaches the fault's `@WEIGHT`."""

    def __init__(self, faults: tuple[Fault, ...], stack: LocalStack, edge: Edge,
                 weights: Callable[[], dict[str, int]],
                 on_start: Callable[[Fault, float], None]) -> None:
        self.pending = list(faults)
        self.stack, self.edge, self.weights, self.on_start = stack, edge, weights, on_start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while self.pending and not self._stop.wait(0.2):
            live = self.weights()
            total = sum(live.values()) or 1
            for fault in list(self.pending):
                if fault.due(round(100 * live.get(fault.lane, 0) / total)):
                    self.apply(fault)
                    self.pending.remove(fault)

    def apply(self, fault: Fault) -> None:
        if fault.kind == "errors":
            self.edge.faults[fault.lane].error_fraction = fault.value
        elif fault.kind == "latency":
            self.edge.faults[fault.lane].latency_ms = fault.value
        elif fault.kind == "crash":
            self.stack.lanes[fault.lane].kill("api")
        elif fault.kind == "worker-crash":
            self.stack.lanes[fault.lane].kill("worker")
        self.on_start(fault, time.time())
