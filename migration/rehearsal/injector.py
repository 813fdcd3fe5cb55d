"""Start each `--fault` once its weight is reached: in a lane, the control plane, or the operator."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from infra.local.stack import LocalStack
from migration.rehearsal.edge import Edge
from migration.rehearsal.fault_proxy import DOWN, PASS, THROTTLE, FaultProxy
from migration.rehearsal.faults import Fault
from soundbite import spec

THROTTLE_SECONDS = 8.0
"""How long CloudWatch answers Throttling: a burst that outlasts botocore's first retries but
not the engine's consecutive-error limit."""
SLOW_INSYNC_SECONDS = spec.LEDGER_LEASE_SECONDS + 5
"""A Route 53 change reports PENDING this long: later than the ledger's lease would last."""
BASELINE_ALARM_LATENCY_MS = 2 * spec.ALARMS.p95_latency_ms
"""What `ec2:alarm` adds to every baseline request: twice the p95 alarm's threshold, so the
baseline's own p95 alarm (created as the stack creates it) goes to ALARM when the emulator
evaluates it, and the engine reads that state as it reads CloudWatch's."""


@dataclass
class ControlPlane:
    """What control-plane faults act on: the engine's proxies, its process, the operator."""

    proxies: dict[str, FaultProxy]
    kill_engine: Callable[[], bool]
    operator_rollback: Callable[[], None]


class FaultInjector:
    """Starts each fault once its lane's (or Fargate's) live weight reaches the fault's `@WEIGHT`."""

    def __init__(self, faults: tuple[Fault, ...], stack: LocalStack, edge: Edge,
                 weights: Callable[[], dict[str, int]], on_start: Callable[[Fault, float], None],
                 control: ControlPlane | None = None) -> None:
        self.pending = [f for f in faults if f.name != "engine:crash"]
        self.crashes = [f for f in faults if f.name == "engine:crash"]
        self.stack, self.edge, self.weights, self.on_start = stack, edge, weights, on_start
        self.control = control
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        if self.crashes and self.control:
            self.control.proxies["route53"].on_change = self._crash_if_due
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _share(self, lane: str) -> int:
        live = self.weights()
        return round(100 * live.get(lane, 0) / (sum(live.values()) or 1))

    def _loop(self) -> None:
        while self.pending and not self._stop.wait(0.1):
            for fault in list(self.pending):
                if fault.due(self._share(fault.lane)):
                    self.pending.remove(fault)
                    self.apply(fault)

    def _crash_if_due(self) -> bool:
        """After a Route 53 change landed, before its answer: kill the engine if its weight is due."""
        for fault in list(self.crashes):
            if fault.due(self._share(fault.lane)) and self.control.kill_engine():
                self.crashes.remove(fault)
                self.on_start(fault, time.time())
                return True
        return False

    def apply(self, fault: Fault) -> None:
        started = time.time()
        if fault.on_lane:
            self._lane(fault)
        elif fault.name == "ec2:alarm":
            self.edge.faults[spec.STACKS[0]].latency_ms = BASELINE_ALARM_LATENCY_MS
        elif fault.scope == "control":
            self._control(fault)
        elif fault.name == "operator:rollback":
            threading.Thread(target=self.control.operator_rollback, daemon=True).start()
        self.on_start(fault, started)

    def _lane(self, fault: Fault) -> None:
        if fault.kind == "errors":
            self.edge.faults[fault.scope].error_fraction = fault.value
        elif fault.kind == "latency":
            self.edge.faults[fault.scope].latency_ms = fault.value
        elif fault.kind == "crash":
            self.stack.lanes[fault.scope].kill("api")
        elif fault.kind == "worker-crash":
            self.stack.lanes[fault.scope].kill("worker")

    def _control(self, fault: Fault) -> None:
        proxies = self.control.proxies
        if fault.kind == "metrics":
            proxies["cloudwatch"].mode = THROTTLE if fault.value == "throttle" else DOWN
            if fault.value == "throttle":
                threading.Timer(THROTTLE_SECONDS, lambda: setattr(proxies["cloudwatch"], "mode", PASS)).start()
        elif fault.kind == "ledger":
            proxies["dynamodb"].mode = DOWN
        elif fault.kind == "route53":
            proxies["route53"].slow_next_change(SLOW_INSYNC_SECONDS)
