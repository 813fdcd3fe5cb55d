"""Run one rehearsal: lanes, edge, load, the engine as `soundbite migrate` in its own process,
faults in the lanes and the control plane, drain, invariants, report."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from infra import phases
from infra.local import cognito, emulator
from infra.local.stack import LocalStack
from migration import dns_setup
from migration.exceptions import ConfigError, PlanError
from migration.executor import Status
from migration.ledger import Ledger
from migration.rehearsal import ecs_agent
from migration.rehearsal import invariants as inv
from migration.rehearsal.edge import Edge
from migration.rehearsal.fault_proxy import FaultProxy
from migration.rehearsal.faults import Fault
from migration.rehearsal.injector import ControlPlane, FaultInjector
from migration.rehearsal.load import LoadProcess
from migration.rehearsal.report import judged_windows, write_report
from migration.rehearsal.resolver import WeightedResolver
from migration.rehearsal.settle import count_records, settle, tally
from migration.rehearsal.supervisor import KILLED, EngineRun, EngineSupervisor
from migration.rehearsal.wiring import (
    ENGINE_SERVICES,
    ENVIRONMENT,
    PUBLIC_NAME,
    ZONE,
    create_alarms,
    engine_env,
    rehearsal_target,
    synthetic_password,
    write_target_files,
)
from migration.router import Route53WeightedRouter
from migration.schemas import load_plan
from soundbite import spec
from soundbite.core.repository import SoundbiteRepository

EC2, FARGATE = spec.STACKS
# Every rehearsal client reaches the lanes from one loopback address, so the per-client
# production limit (100 per 15 minutes) would throttle the whole load generator. A short
# long-poll lets idle workers notice SIGTERM quickly when the rehearsal ends.
# The edge is the one proxy in front of the lanes (it appends X-Forwarded-For).
LANE_ENV = {"SOUNDBITE_RATE_LIMIT": "100000 per minute", "SOUNDBITE_WORKER_POLL_SECONDS": "2",
            "SOUNDBITE_TRUSTED_PROXIES": "1",
            # a rehearsal stops within seconds of Ctrl-C, as `soundbite dev` does
            "SOUNDBITE_WORKER_GRACE_SECONDS": str(spec.LOCAL_WORKER_GRACE_SECONDS)}
LOAD_USER = "rehearsal-load"
"""The user pool account the load generator signs in as."""
# The rehearsal compresses time (soaks of seconds): a job held by a killed worker comes back
# after this many seconds instead of the spec's 130, so a run can show it completed.
VISIBILITY_TIMEOUT_SECONDS = 10
OPERATOR_REASON = "rehearsal: the operator rolls back mid-soak"


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
    """What the run saw: ledger events, live weights, fault activations."""

    started_at: float = field(default_factory=time.time)
    events: list[dict] = field(default_factory=list)
    weights: inv.WeightLog = field(default_factory=list)
    fault_started: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fault(self, fault: Fault, at: float) -> None:
        with self.lock:
            self.fault_started[str(fault)] = at

    def weight(self, at: float, fargate: int) -> None:
        if not self.weights or self.weights[-1][1] != fargate:
            self.weights.append((at, fargate))


class Watcher:
    """Polls the live weights (Route 53) and the ledger's events while the rehearsal runs."""

    def __init__(self, weights: Callable[[], dict[str, int]], ledger: Ledger, observed: Observed,
                 say: Callable[[str, dict], None]) -> None:
        self.read_weights, self.ledger, self.observed, self.say = weights, ledger, observed, say
        self._seen: set[tuple] = set()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._weights, daemon=True),
                         threading.Thread(target=self._events, daemon=True)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self.poll_events()

    def _weights(self) -> None:
        while not self._stop.wait(0.1):
            live = self.read_weights()
            self.observed.weight(time.time(), round(100 * live.get(FARGATE, 0) / (sum(live.values()) or 1)))

    def _events(self) -> None:
        while not self._stop.wait(0.5):
            self.poll_events()

    def poll_events(self) -> None:
        for event in self.ledger.events(1000):
            key = (event.get("at"), event.get("kind"), event.get("runId"))
            if key in self._seen:
                continue
            self._seen.add(key)
            event = _readable(event)
            self.observed.events.append(event)
            self.say("event", event)


def _readable(event: dict) -> dict:
    """A ledger event with the fields the progress view and the report read at the top."""
    event = dict(event)
    if event["kind"] == "shift":
        event["weights"] = event.get("after")
    if event["kind"] == "verdict":
        event.update(outcome=event["verdict"]["outcome"], reason=event["verdict"]["reason"])
    return event


def checked_plan(options: RehearsalOptions):
    """The plan the options name, with `--until` one of its steps (PlanError otherwise), on an
    emulator that can judge (ConfigError otherwise)."""
    try:
        kind = emulator.selected()
    except emulator.EmulatorError as exc:
        raise ConfigError(str(exc)) from exc
    if kind != emulator.MINISTACK:
        raise ConfigError(f"{emulator.SELECT_VARIABLE}={kind}: the rehearsal judges "
                          "on CloudWatch percentiles and evaluated alarms, which only MiniStack "
                          f"serves; unset {emulator.SELECT_VARIABLE}")
    plan = load_plan(options.plan)
    steps = [step.name for step in plan.steps]
    if options.until and options.until not in steps:
        raise PlanError(f"--until {options.until}: plan {plan.name} has steps {', '.join(steps)}")
    return plan


class RehearsalInterrupted(Exception):
    """Ctrl-C or SIGTERM before the rehearsal's end: everything it started has been stopped."""


def _stop_engine_on(stop: threading.Event, supervisor: EngineSupervisor) -> None:
    """An interruption kills the engine at once (the main thread waits on it) and starts nothing
    after it; the lanes, edge and load stop as the rehearsal unwinds."""
    def watch() -> None:
        stop.wait()
        supervisor.stop()

    threading.Thread(target=watch, name="rehearsal-stop", daemon=True).start()


def _unless(stop: threading.Event, already_asked: bool) -> Callable[[float], None]:
    """A sleep that an interruption ends (once a kept-up run ends on request, it settles)."""
    def sleep(seconds: float) -> None:
        if stop.wait(seconds) and not already_asked:
            raise RehearsalInterrupted("interrupted while settling; the report was not written")

    return sleep


def rehearse(options: RehearsalOptions, progress: Callable[[str, dict], None] | None = None,
             stop: threading.Event | None = None) -> dict:
    """Run the whole rehearsal and return its summary (see the README for the fields).

    With `options.until`, the engine stops after that step; with `options.keep_up`, the
    lanes, edge and load keep running (so a person can practise the runbooks against them)
    until `stop` is set, then the run drains and checks its invariants as usual.
    """
    say = progress or (lambda _stage, _data: None)
    plan = checked_plan(options)
    steps = [step.name for step in plan.steps]
    observed = Observed()
    stop = stop or threading.Event()
    # bound: the emulator and lanes die with this process, even when it is killed outright
    with LocalStack(environment=ENVIRONMENT, log_dir=options.log_dir, extra_env=LANE_ENV,
                    bound=True) as stack:
        say("lanes", {})
        stack.emulator.client("sqs").set_queue_attributes(
            QueueUrl=stack.data_plane.queue_url,
            Attributes={"VisibilityTimeout": str(VISIBILITY_TIMEOUT_SECONDS)})
        for lane in spec.STACKS:
            stack.add_lane(lane)
        targets = {lane: f"{lane}.lanes.{ZONE}" for lane in spec.STACKS}
        zone_id = dns_setup.create_weighted_zone(
            stack.emulator.client("route53"), ZONE, PUBLIC_NAME, targets,
            phases.phase_named("parallel").weights, ttl=max(1, int(plan.ttl_wait_seconds)))
        resolver = WeightedResolver(stack.emulator.client("route53"), zone_id, PUBLIC_NAME,
                                    {t: lane for lane, t in targets.items()})
        edge = Edge(resolver, {n: lane.url for n, lane in stack.lanes.items()},
                    stack.emulator.client("cloudwatch"), ENVIRONMENT,
                    on_sample=lambda sample: say("sample", asdict(sample)))
        edge_url = edge.start()
        proxies = {name: FaultProxy(stack.emulator.endpoint, name) for name in ENGINE_SERVICES}
        urls = {name: proxy.start() for name, proxy in proxies.items()}
        ecs = stack.emulator.client("ecs")
        agent = ecs_agent.TaskAgent(ecs, ecs_agent.register(ecs, ENVIRONMENT), stack.lanes[FARGATE].api)
        target = rehearsal_target(stack, zone_id, edge.direct_urls, agent.service,
                                  tuple(step.percent for step in plan.shift_steps))
        create_alarms(stack.emulator.client("cloudwatch"), target)
        secrets = synthetic_password(stack)
        # the engine's copy; the log directory's own appears once a kept-up run is ready
        files = write_target_files(options.log_dir / "engine", stack, target, edge_url, secrets)
        supervisor = EngineSupervisor(files["target"], files["lanes"], options.plan,
                                      engine_env(stack, urls, secrets), options.log_dir)
        _stop_engine_on(stop, supervisor)
        ledger = Ledger(target.ledger, target.stack, client=stack.emulator.client("dynamodb"))
        route53 = Route53WeightedRouter(zone_id, PUBLIC_NAME, client=stack.emulator.client("route53"))
        watcher = Watcher(route53.current, ledger, observed, say)
        control = ControlPlane(proxies, supervisor.kill, lambda: supervisor.command(
                                   "rollback", "--reason", OPERATOR_REASON, engine=False))
        injector = FaultInjector(options.faults, stack, edge, route53.current, observed.fault, control)
        load_token = stack.token(LOAD_USER)
        load = LoadProcess(edge_url, options.rate, seed=options.seed, token=load_token)
        try:
            agent.start()
            load.start()
            watcher.start()
            injector.start()
            say("migrating", {"plan": plan.name, "steps": steps})
            supervisor.migrate(options.until, before_restart=lambda run: _lease_ran_out(run, ledger))
            say("cooldown", {"seconds": options.cooldown_seconds})
            if stop.wait(options.cooldown_seconds):
                raise RehearsalInterrupted("interrupted while migrating; the report was not written")
            if options.keep_up:
                files = write_target_files(options.log_dir, stack, target, edge_url, secrets)
                say("ready", {k: str(v) for k, v in files.items()})
                stop.wait()
        finally:
            agent.stop()
            injector.stop()
            load.stop()
            edge.stop()
            watcher.stop()
            for proxy in proxies.values():
                proxy.stop()
        ended_at = time.time()
        say("draining", {"accepted": len(load.stats.accepted)})
        ids = list(load.stats.accepted.values())
        repo = SoundbiteRepository(stack.data_plane.soundbites_table, ENVIRONMENT,
                                   client=stack.emulator.client("dynamodb"))
        statuses = settle(repo, ids, options.drain_timeout, sleep=_unless(stop, options.keep_up),
                          progress=lambda done, total: say("settling", {"done": done, "total": total}))
        records = count_records(stack.emulator.client("dynamodb"), stack.data_plane.soundbites_table,
                                cognito.subject(load_token))
        soundbites = tally(statuses, records, load.stats.key_conflicts)
        compared, mismatches, crashed = _compare_lanes(stack, ids)
        final = route53.current()
    observed.events.sort(key=lambda e: e["at"])
    control = {name: {"failed": proxy.failed, "slowed": proxy.slowed} for name, proxy in proxies.items()}
    summary = _summary(options, plan, supervisor, final, load, soundbites, observed, edge,
                       ended_at, (compared, mismatches, crashed), control)
    summary["control_plane_failures"] = {name: seen["failed"] for name, seen in control.items()}
    if options.report_dir:
        paths = write_report(options.report_dir, summary, edge.samples, observed.events)
        summary["report"] = {name: str(path) for name, path in paths.items()}
    return summary


def _lease_ran_out(run: EngineRun, ledger: Ledger) -> None:
    """A killed engine's lease would run out after its term; the rehearsal does not wait for it."""
    if run.exit_code == KILLED:
        ledger.client.update_item(
            TableName=ledger.table, Key=ledger.lock_key, UpdateExpression="SET expiresAt = :zero",
            ExpressionAttributeValues={":zero": {"N": "0"}})


def _compare_lanes(stack: LocalStack, ids: list[str], sample: int = 5) -> tuple[int, list[str], list[str]]:
    """The same soundbite read from both lanes (presigned URLs compared without their query)."""
    import urllib.error
    import urllib.request

    token = stack.token(LOAD_USER)

    def body(lane: str, soundbite_id: str) -> dict:
        """The lane's answer; an HTTP error or an unreadable answer is an answer too (it then
        differs from a healthy lane's, and the invariant fails rather than the rehearsal)."""
        url = f"{stack.lanes[lane].url}/v1/soundbites/{soundbite_id}"
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                data = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return {"http_status": exc.code}
        except (OSError, ValueError) as exc:
            return {"unreadable": type(exc).__name__}
        if "audio_url" in data:
            data["audio_url"] = data["audio_url"].split("?")[0]
        return data

    crashed = [name for name, lane in stack.lanes.items() if lane.api is None or lane.api.poll() is not None]
    if crashed:
        return 0, [], crashed
    mismatches = [i for i in ids[:sample] if body(EC2, i) != body(FARGATE, i)]
    return len(ids[:sample]), mismatches, []


def _timings(observed: Observed, faults: tuple[Fault, ...], supervisor: EngineSupervisor
             ) -> tuple[float | None, float | None, float | None]:
    """(effective, detection, rollback): when the fault took effect, how long until the decision,
    and how long from the decision until Route 53 had Fargate back at 0.

    A fault is effective once it has started and its lane (Fargate, for the control plane)
    takes public traffic: an error fault injected at weight 0 harms nobody until the first shift.
    """
    effective = [t for f in faults if str(f) in observed.fault_started
                 if (t := _effective(observed.weights, observed.fault_started[str(f)], f.lane)) is not None]
    if not effective:
        return None, None, None
    at = min(effective)
    restored = next((t for t, percent in observed.weights if t >= at and percent == 0), None)
    if restored is None:
        return at, None, None
    operator = [r.started_at for r in supervisor.runs if r.command == "rollback"]
    verdicts = [e["at"] for e in observed.events if e["kind"] == "verdict" and at <= e["at"] <= restored]
    decided = operator[0] if operator else max(verdicts, default=restored)
    detection = None if operator else decided - at
    return at, detection, restored - decided


def _effective(log: inv.WeightLog, started: float, lane: str) -> float | None:
    if _weight_at(log, started, lane) > 0:
        return started
    return next((t for t, p in log if t > started and (p if lane == FARGATE else 100 - p) > 0), None)


def _weight_at(log: inv.WeightLog, at: float, lane: str) -> int:
    percent = next((p for t, p in reversed(log) if t <= at), 0)
    return percent if lane == FARGATE else 100 - percent


def _outcome(runs: list[EngineRun], events: list[dict], final: dict[str, int]) -> str:
    """In the engine's status words: promoted (all on Fargate, plan complete), rolled-back (all
    on EC2 after a rollback), held, awaiting-approval, or the last run's own status."""
    status = runs[-1].result.get("status") if runs else None
    if final.get(FARGATE, 0) == 100 and status in (Status.COMPLETE, Status.PROMOTED):
        return Status.PROMOTED.value
    rolled = any(r.result.get("status") == Status.ROLLED_BACK for r in runs) or any(
        e["kind"] == "rollback" for e in events)
    if final.get(FARGATE, 0) == 0 and rolled:
        return Status.ROLLED_BACK.value
    return status or "error"


def _summary(options, plan, supervisor, final, load, soundbites, observed, edge, ended_at,
             lanes, control: dict[str, dict]) -> dict:
    effective, detection, rollback = _timings(observed, options.faults, supervisor)
    restored = None if rollback is None else next(
        (t for t, p in observed.weights if effective is not None and t >= effective and p == 0), None)
    alive = _alive(supervisor)
    lost, duplicates = inv.soundbites_kept(soundbites)
    outcome = _outcome(supervisor.runs, observed.events, final)
    checks = {
        "ended_in_its_documented_safe_state": (
            inv.not_checked("a practice run: people act on the kept-up lanes, or the engine stops "
                            "early (--until)") if options.keep_up or options.until
            else inv.ended_as_documented(options.faults, outcome, observed.events)),
        "no_soundbite_lost": lost,
        "no_duplicates": duplicates,
        "identical_responses_across_lanes": inv.identical_across_lanes(*lanes),
        "clients_saw_no_errors": inv.no_client_errors(options.faults, load.stats.client_errors,
                                                      load.stats.requests),
        "traffic_never_unjudged": inv.traffic_never_unjudged(observed.weights, observed.events, alive,
                                                             ended_at),
        "operator_rollback_is_final": inv.operator_rollback_final(
            options.faults, observed.fault_started, observed.weights, observed.events, ended_at),
        "every_fault_took_effect": (
            inv.not_checked("a practice run (--keep-up or --until): it may end before a fault's weight")
            if options.keep_up or options.until else
            inv.faults_took_effect(options.faults, observed.fault_started, control,
                                   [r.as_dict() for r in supervisor.runs])),
        "rolled_back_within_failure_limit": inv.rolled_back_in_time(
            options.faults, effective, restored, observed.events, plan.failure_limit,
            plan.consecutive_error_limit),
    }
    per_lane = {}
    for sample in edge.samples:
        lane = per_lane.setdefault(sample.lane, {"requests": 0, "errors": 0})
        lane["requests"] += sample.requests
        lane["errors"] += sample.errors
    decisions = [e for e in observed.events if e["kind"] in ("verdict", "rollback", "held", "shift",
                                                             "validate", "resume", "complete")]
    decisions += [{"kind": "fault", "at": at, "fault": name} for name, at in observed.fault_started.items()]
    t0 = observed.started_at
    return {
        "outcome": outcome,
        "final_weights": {lane: final.get(lane, 0) for lane in spec.STACKS},
        "plan": options.plan,
        "faults": [str(f) for f in options.faults],
        "requests": {**load.stats.as_dict(), "per_lane": per_lane},
        "soundbites": soundbites.as_dict(),
        "decisions": sorted(decisions, key=lambda e: e["at"]),
        "judged": judged_windows(observed.events),
        "weights": [{"at": t, "fargate": p} for t, p in observed.weights],
        "engine_runs": [r.as_dict() for r in supervisor.runs],
        "fault_effective_seconds": None if effective is None else round(effective - t0, 2),
        "detection_seconds": None if detection is None else round(detection, 2),
        "rollback_seconds": None if rollback is None else round(rollback, 2),
        "duration_seconds": round(time.time() - t0, 1),
        "started_at": t0,
        "result_reason": _reason(supervisor.runs),
        "invariants": {name: check.as_dict() for name, check in checks.items()},
        "ok": all(check.status != inv.FAILED for check in checks.values()),
    }


def _reason(runs: list[EngineRun]) -> str | None:
    """The last engine answer that gave a reason (a refused restart prints none on stdout)."""
    for run in reversed(runs):
        reason = run.result.get("reason") or run.result.get("message")
        if reason:
            return reason
    return None


def _alive(supervisor: EngineSupervisor):
    def until(start: float, limit: float) -> float:
        """How long after `start` (up to `limit`) the engine process that was running then kept running."""
        for run in supervisor.runs:
            if run.command != "rollback" and run.started_at <= start <= (run.ended_at or float("inf")):
                return min(limit, run.ended_at or limit)
        return start

    return until
