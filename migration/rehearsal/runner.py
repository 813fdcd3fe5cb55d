"""Run one rehearsal: lanes, edge, load, the real migration engine, faults, drain, invariants."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from infra import phases
from infra.local.stack import LocalStack
from migration import dns_setup
from migration.edge_metrics import edge_profile
from migration.engine import Engine
from migration.exceptions import PlanError
from migration.executor import Executor, Status, StepResult
from migration.health import HttpProbe
from migration.ledger import Ledger
from migration.metrics import CloudWatchMetrics
from migration.plan import Plan, load_plan
from migration.rehearsal.edge import Edge
from migration.rehearsal.faults import Fault
from migration.rehearsal.injector import FaultInjector
from migration.rehearsal.invariants import count_records, settle, tally
from migration.rehearsal.lane_health import LaneProcessHealth
from migration.rehearsal.load import LoadProcess
from migration.rehearsal.report import write_report
from migration.rehearsal.resolver import WeightedResolver
from migration.router import Route53WeightedRouter
from service.repository import SoundbiteRepository
from soundbite import spec

ZONE = "soundbite.test"
PUBLIC_NAME = f"api.{ZONE}"
ENVIRONMENT = "rehearsal"
# Every rehearsal client reaches the lanes from one loopback address, so the per-client
# production limit (100 per 15 minutes) would throttle the whole load generator. A short
# long-poll lets idle workers notice SIGTERM quickly when the rehearsal ends.
# The edge is the one proxy in front of the lanes (it appends X-Forwarded-For).
LANE_ENV = {"SOUNDBITE_RATE_LIMIT": "100000 per minute", "SOUNDBITE_WORKER_POLL_SECONDS": "2",
            "SOUNDBITE_TRUSTED_PROXIES": "1"}
LOAD_USER = "rehearsal-load"
"""The user pool account the load generator signs in as."""
# The rehearsal compresses time (soaks of seconds): a job held by a killed worker comes back
# after this many seconds instead of the spec's 130, so a run can show it completed.
VISIBILITY_TIMEOUT_SECONDS = 10


@dataclass
class RehearsalOptions:
    plan: str = "quick"
    faults: tuple[Fault, ...] = ()
    rate: float = 30.0
    seed: int = 7
    drain_timeout: float = 60.0
    log_dir: Path = Path(".soundbite-rehearsal")
    report_dir: Path | None = None
    until: str | None = None
    keep_up: bool = False
    cooldown_seconds: float = 4.0
    """Load keeps running this long after the engine's last decision, so the report shows
    the traffic after a rollback (or at 100 %) too."""


@dataclass
class Observed:
    """What the run saw, for the summary: engine events and fault activations."""

    started_at: float = field(default_factory=time.time)
    events: list[dict] = field(default_factory=list)
    fault_started: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def event(self, event: dict) -> None:
        with self.lock:
            self.events.append(event)

    def fault(self, fault: Fault, at: float) -> None:
        self.fault_started[str(fault)] = at
        self.event({"kind": "fault", "at": at, "fault": str(fault)})


def build_engine(plan: Plan, stack: LocalStack, zone_id: str,
                 on_event: Callable[[dict], None]) -> Engine:
    dp = stack.data_plane
    route53 = stack.emulator.client("route53")
    profile = edge_profile(ENVIRONMENT, spec.STACKS)
    router = Route53WeightedRouter(zone_id, PUBLIC_NAME, client=route53)
    lanes = stack.lanes
    return Engine(
        stack=ENVIRONMENT,
        plan=plan,
        router=router,
        direct_router=router,
        ledger=Ledger(dp.ledger_table, ENVIRONMENT, client=stack.emulator.client("dynamodb")),
        metrics=CloudWatchMetrics(profile, client=stack.emulator.client("cloudwatch")),
        health={name: [LaneProcessHealth(lane)] for name, lane in lanes.items()},
        probe=HttpProbe({name: lane.url for name, lane in lanes.items()}, count=5),
        ec2_capacity=phases.Capacity(1, 1),
        fargate_capacity=phases.Capacity(1, 1),
        on_event=on_event,
    )


def _timings(observed: Observed) -> tuple[float | None, float | None]:
    """(fault effective -> rollback decision, decision -> weights restored), None when absent.

    A fault is effective once it has started and its lane takes public traffic: an error
    fault injected at weight 0 harms nobody until the first shift.
    """
    rollback = next((e for e in observed.events if e["kind"] == "rollback"), None)
    if rollback is None:
        return None, None
    decided = max((e["at"] for e in observed.events
                   if e["kind"] == "verdict" and e["at"] <= rollback["at"]), default=rollback["at"])
    effective = []
    for fault, started in observed.fault_started.items():
        lane = fault.split(":", 1)[0]
        exposed = [e["at"] for e in observed.events
                   if e["kind"] == "shift" and e.get("weights", {}).get(lane, 0) > 0]
        if exposed:
            effective.append(max(started, min(exposed)))
    effective = [t for t in effective if t <= decided]
    detection = decided - min(effective) if effective else None
    return detection, rollback["at"] - decided


def _identical_across_lanes(stack: LocalStack, ids: list[str], sample: int = 5) -> bool:
    """The same soundbite reads the same from both lanes (presigned URLs compared without query)."""
    import urllib.request

    token = stack.token(LOAD_USER)

    def body(lane: str, soundbite_id: str) -> dict:
        url = f"{stack.lanes[lane].url}/v1/soundbites/{soundbite_id}"
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=5) as response:
            data = json.loads(response.read())
        if "audio_url" in data:
            data["audio_url"] = data["audio_url"].split("?")[0]
        return data

    alive = [name for name, lane in stack.lanes.items() if lane.api and lane.api.poll() is None]
    if len(alive) < 2:
        return True  # nothing to compare once a lane was crashed on purpose
    return all(body(alive[0], i) == body(alive[1], i) for i in ids[:sample])


def rehearse(options: RehearsalOptions, progress: Callable[[str, dict], None] | None = None,
             stop: threading.Event | None = None) -> dict:
    """Run the whole rehearsal and return its summary (see the README for the fields).

    With `options.until`, the engine stops after that step; with `options.keep_up`, the
    lanes, edge and load keep running (so a person can practise the runbooks against them)
    until `stop` is set, then the run drains and checks its invariants as usual.
    """
    say = progress or (lambda _stage, _data: None)
    plan = load_plan(options.plan)
    steps = [step.name for step in plan.steps]
    if options.until and options.until not in steps:
        raise PlanError(f"--until {options.until}: plan {plan.name} has steps {', '.join(steps)}")
    observed = Observed()
    with LocalStack(environment=ENVIRONMENT, log_dir=options.log_dir, extra_env=LANE_ENV) as stack:
        say("lanes", {})
        stack.emulator.client("sqs").set_queue_attributes(
            QueueUrl=stack.data_plane.queue_url,
            Attributes={"VisibilityTimeout": str(VISIBILITY_TIMEOUT_SECONDS)})
        for lane in spec.STACKS:
            stack.add_lane(lane)
        targets = {lane: f"{lane}.lanes.{ZONE}" for lane in spec.STACKS}
        parallel = phases.phase_named("parallel").weights
        zone_id = dns_setup.create_weighted_zone(
            stack.emulator.client("route53"), ZONE, PUBLIC_NAME, targets, parallel,
            ttl=max(1, int(plan.ttl_wait_seconds)))
        resolver = WeightedResolver(stack.emulator.client("route53"), zone_id, PUBLIC_NAME,
                                    {t: lane for lane, t in targets.items()})
        edge = Edge(resolver, {n: lane.url for n, lane in stack.lanes.items()},
                    stack.emulator.client("cloudwatch"), ENVIRONMENT,
                    on_sample=lambda sample: say("sample", asdict(sample)))
        edge_url = edge.start()
        load = LoadProcess(edge_url, options.rate, seed=options.seed,
                           token=stack.token(LOAD_USER))
        engine = build_engine(plan, stack, zone_id, _observer(observed, say))
        injector = FaultInjector(options.faults, stack, edge, resolver.weights, observed.fault)
        try:
            load.start()
            injector.start()
            say("migrating", {"plan": plan.name, "steps": [s.name for s in plan.steps]})
            result = _migrate(Executor(engine), options.until)
            say("cooldown", {"seconds": options.cooldown_seconds})
            time.sleep(options.cooldown_seconds)
            if options.keep_up:
                files = write_target_files(options.log_dir, stack, zone_id, edge_url)
                say("ready", {k: str(v) for k, v in files.items()})
                (stop or threading.Event()).wait()
        finally:
            injector.stop()
            load.stop()
            edge.stop()
        say("draining", {"accepted": len(load.stats.accepted)})
        ids = list(load.stats.accepted.values())
        repo = SoundbiteRepository(stack.data_plane.soundbites_table, ENVIRONMENT,
                                   client=stack.emulator.client("dynamodb"))
        statuses = settle(repo, ids, options.drain_timeout,
                          progress=lambda done, total: say("settling", {"done": done, "total": total}))
        records = count_records(stack.emulator.client("dynamodb"), stack.data_plane.soundbites_table)
        soundbites = tally(statuses, records, load.stats.key_conflicts)
        identical = _identical_across_lanes(stack, ids)
        final = engine.router.current()
    detection, rollback = _timings(observed)
    summary = _summary(options, result, final, load, soundbites, identical, detection, rollback,
                       observed, edge)
    if options.report_dir:
        paths = write_report(options.report_dir, summary, edge.samples, observed.events)
        summary["report"] = {name: str(path) for name, path in paths.items()}
    return summary


def _migrate(executor: Executor, until: str | None) -> StepResult:
    """The whole plan, or step by step up to and including `until`."""
    if until is None:
        return executor.run()
    while True:
        result = executor.advance()
        if result.status is not Status.PROMOTED or result.step == until:
            return result


def write_target_files(directory: Path, stack: LocalStack, zone_id: str, edge_url: str) -> dict:
    """What a person (or a runbook test) needs to act on the running rehearsal."""
    directory.mkdir(parents=True, exist_ok=True)
    target = {
        "stack": ENVIRONMENT, "zone_id": zone_id, "record_name": PUBLIC_NAME,
        "environment": ENVIRONMENT, "ledger_table": stack.data_plane.ledger_table,
        "metrics": "edge", "queue_name": stack.data_plane.queue_url.rsplit("/", 1)[1],
        "dlq_name": stack.data_plane.dlq_url.rsplit("/", 1)[1],
        "direct_urls": {name: lane.url for name, lane in stack.lanes.items()},
    }
    variables = {**stack.emulator.env, **stack.data_plane.service_env(),
                 "SOUNDBITE_ZONE_ID": zone_id, "SOUNDBITE_RECORD_NAME": PUBLIC_NAME,
                 "SOUNDBITE_EDGE_URL": edge_url}
    files = {"target": directory / "target.json", "env": directory / "rehearsal.env"}
    files["target"].write_text(json.dumps(target, indent=2) + "\n")
    files["env"].write_text("".join(f"export {k}={v}\n" for k, v in variables.items()))
    return files


def _observer(observed: Observed, say) -> Callable[[dict], None]:
    def on_event(event: dict) -> None:
        observed.event(event)
        say("event", event)

    return on_event


def _summary(options, result, final, load, soundbites, identical, detection, rollback,
             observed, edge) -> dict:
    outcome = {Status.COMPLETE: "promoted", Status.PROMOTED: "promoted",
               Status.ROLLED_BACK: "rolled_back"}.get(result.status, "held")
    per_lane = {}
    for sample in edge.samples:
        lane = per_lane.setdefault(sample.lane, {"requests": 0, "errors": 0})
        lane["requests"] += sample.requests
        lane["errors"] += sample.errors
    decisions = [e for e in observed.events if e["kind"] in ("verdict", "rollback", "held", "shift")]
    invariants = {
        "no_soundbite_lost": soundbites.lost == 0,
        "no_duplicates": soundbites.duplicates == 0,
        "identical_responses_across_lanes": identical,
        "healthy_run_has_no_client_errors": bool(options.faults) or load.stats.client_errors == 0,
    }
    return {
        "outcome": outcome,
        "final_weights": {lane: final.get(lane, 0) for lane in spec.STACKS},
        "plan": options.plan,
        "faults": [str(f) for f in options.faults],
        "requests": {**load.stats.as_dict(), "per_lane": per_lane},
        "soundbites": soundbites.as_dict(),
        "decisions": decisions,
        "detection_seconds": None if detection is None else round(detection, 2),
        "rollback_seconds": None if rollback is None else round(rollback, 2),
        "duration_seconds": round(time.time() - observed.started_at, 1),
        "started_at": observed.started_at,
        "result_reason": result.reason,
        "invariants": invariants,
        "ok": all(invariants.values()),
    }
