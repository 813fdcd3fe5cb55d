"""Everything one migration needs, wired once: plan, router, ledger, providers, clock.

The CLI's factory builds an `Engine` from options and the environment; tests build one
around the emulator and a fake clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from infra import phases
from migration.capacity import StackCapacity, plan_disagreement
from migration.health import AlarmStates, AsgHealth, EcsServiceHealth, HealthProvider, HttpProbe
from migration.ledger import Ledger
from migration.metrics import CloudWatchMetrics
from migration.phase_source import PhaseSource
from migration.plan import Plan
from migration.router import Route53WeightedRouter, Router
from migration.synthetic import SoundbiteClient
from soundbite import spec

EC2, FARGATE = spec.STACKS


def _ignore(_event: dict) -> None:
    return None


@dataclass
class Engine:
    stack: str
    plan: Plan
    router: Router
    direct_router: Route53WeightedRouter
    """Rollback always goes through Route 53 directly, whatever moves traffic forward."""
    ledger: Ledger
    metrics: CloudWatchMetrics | None = None
    alarms: AlarmStates | None = None
    health: Mapping[str, list[HealthProvider]] = field(default_factory=dict)
    probe: HttpProbe | None = None
    phase_source: PhaseSource | None = None
    ec2_scaler: AsgHealth | None = None
    ec2_worker_scaler: AsgHealth | None = None
    """EC2's worker group, raised with the API group on rollback (`complete` runs it at 0)."""
    fargate_scaler: EcsServiceHealth | None = None
    """Fargate's API service, raised to the next phase's task count before its traffic moves."""
    ec2_capacity: phases.Capacity = field(default_factory=phases.Capacity)
    fargate_capacity: phases.Capacity = field(default_factory=phases.Capacity)
    fargate_capacity_rps: float | None = None
    """Requests per second one Fargate task serves; enables the rate-based capacity check."""
    stack_capacity: StackCapacity | None = None
    """The stack's config the capacities above were read from (None: given, not read)."""
    direct_clients: Mapping[str, SoundbiteClient] = field(default_factory=dict)
    """Per lane, synthetic transactions on its direct name (validate; the canary's top-up)."""
    synthetic_in_metrics: bool = False
    """Whether the lane's metrics count requests to its direct name (an ALB does; the local
    edge does not): if not, the engine adds the synthetic requests to the canary's sample."""
    capacity_problem: str | None = None
    """Why a named stack config could not be read: preflight fails on it."""
    metrics_problem: str | None = None
    """Why the engine has no metrics to judge on (preflight refuses to shift then)."""
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], float] = time.time
    on_event: Callable[[dict], None] = _ignore

    @property
    def judge_config(self):
        return self.plan.judge

    @property
    def phase_table(self) -> tuple[phases.Phase, ...]:
        steps = tuple(s.percent for s in self.plan.shift_steps)
        return phases.build_phases(steps, self.ec2_capacity, self.fargate_capacity)

    @property
    def plan_disagreement(self) -> str | None:
        """Why the plan's shift steps cannot run on this stack's phase table, if they cannot."""
        return plan_disagreement(tuple(s.percent for s in self.plan.shift_steps), self.stack_capacity)

    def problems(self, lane: str) -> list[str]:
        found = []
        for provider in self.health.get(lane, []):
            found += [f"{lane}: {p}" for p in provider.problems()]
        return found

    def running(self, lane: str) -> int | None:
        counts = [c for c in (p.running() for p in self.health.get(lane, [])) if c is not None]
        return min(counts) if counts else None

    def firing(self) -> tuple[str, ...]:
        return self.alarms.firing() if self.alarms else ()
