"""Build an `Engine` from a `Target`: the only place that creates AWS and Pulumi clients.

Endpoints come from boto3's own configuration (`AWS_ENDPOINT_URL` locally), so the same
command talks to AWS or to the emulator.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import boto3
from botocore.config import Config

from infra import automation, phases
from migration.capacity import StackCapacity, read_stack_file
from migration.engine import EC2, FARGATE, Engine
from migration.exceptions import ConfigError
from migration.health import AlarmStates, AsgHealth, EcsServiceHealth, HttpProbe, TargetHealth
from migration.ledger import Ledger
from migration.metrics import CloudWatchMetrics, alb_profile
from migration.phase_source import PulumiConfigPhase, StackFilePhase
from migration.plan import Plan
from migration.router import PulumiRouter, Route53WeightedRouter
from migration.synthetic import SoundbiteClient, token_source
from migration.target import Target
from soundbite import spec
from soundbite.core.aws import CLIENT_CONFIG

ROUTE53_CONFIG = CLIENT_CONFIG.merge(Config(retries={"mode": "standard",
                                                     "total_max_attempts": spec.ROUTE53_MAX_ATTEMPTS}))


class _BoundedSession:
    """A session whose clients take the service's short timeouts and few retries: one hung
    CloudWatch, ECS or ledger call ends in seconds, as an `error` check the judge counts,
    instead of botocore's 60 s reads retried five times while the lease runs out."""

    def __init__(self, session) -> None:
        self._session = session
        self.region_name = session.region_name

    def client(self, service: str, **kwargs):
        config = ROUTE53_CONFIG if service == "route53" else CLIENT_CONFIG
        given = kwargs.pop("config", None)
        return self._session.client(service, config=config.merge(given) if given else config, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self._session, name)


@dataclass(frozen=True)
class EngineOverrides:
    """What an environment without AWS supplies itself; everything else comes from the target.

    Each field left None means "as the target says". `health` adds providers to the ones the
    target names (the local rehearsal adds the lanes' processes that have no ECS service or
    Auto Scaling group there); tests name the ledger's owner and probe fewer times.
    """

    health: Mapping[str, list] | None = None
    probe: object | None = None
    ec2_capacity: phases.Capacity | None = None
    fargate_capacity: phases.Capacity | None = None
    ledger_owner: str | None = None


def _metrics(target: Target, cloudwatch) -> tuple[CloudWatchMetrics | None, str | None]:
    """The judge's metrics, or why there are none. Never raises: a rollback must be built from
    a target that names only the records (preflight fails on the reason, so nothing shifts)."""
    if target.metrics_problem:
        return None, target.metrics_problem
    return CloudWatchMetrics(alb_profile(target.load_balancers, target.target_groups, target.queue,
                                         target.dlq, period=target.metric_period_seconds),
                             client=cloudwatch), None


def _health(target: Target, session, extra: Mapping[str, list]) -> dict[str, list]:
    health: dict[str, list] = {EC2: [], FARGATE: []}
    for lane, providers in extra.items():
        health.setdefault(lane, []).extend(providers)
    if target.asg_name:
        health[EC2].append(AsgHealth(target.asg_name, session.client("autoscaling")))
    if target.ecs_cluster and target.ecs_service:
        health[FARGATE].append(EcsServiceHealth(target.ecs_cluster, target.ecs_service,
                                                session.client("ecs")))
    for lane, arn in target.target_group_arns.items():
        health.setdefault(lane, []).append(TargetHealth(arn, session.client("elbv2")))
    return health


def stack_file_of(target: Target) -> str | None:
    """The stack's `Pulumi.<stack>.yaml`: named in the target, or beside `Pulumi.yaml`."""
    if target.stack_file:
        return target.stack_file
    if target.pulumi_dir:
        return f"{target.pulumi_dir}/Pulumi.{target.stack}.yaml"
    return None


UNKNOWN_CAPACITY = (
    "the stack's capacity is unknown: the target file records no `capacity` and names no stack "
    "config, so preflight could not check Fargate's tasks and a rollback would restore a default "
    "EC2 count. Re-run `soundbite migrate init --force` on the outputs of this program version "
    "(it records `stackCapacity`), or pass --stack-file Pulumi.<stack>.yaml or --pulumi-dir DIR")


def stack_capacity(target: Target, given: bool = False) -> tuple[StackCapacity | None, str | None]:
    """The stack's configured capacities, or why they are not known. Never raises: a rollback
    must be built even when the config is broken (preflight and doctor fail on the reason).

    The stack file (what the next `pulumi up` applies) wins, and must agree with what the
    target file recorded at init; without either, capacity is a problem wherever something is
    sized from it (an Auto Scaling group or an ECS service), unless the caller `given` both."""
    recorded = target.recorded_capacity
    path = stack_file_of(target)
    if path is not None:
        try:
            configured = read_stack_file(path)
        except ConfigError as exc:
            return None, str(exc)
        if recorded is not None and (recorded.shift_steps, recorded.ec2, recorded.fargate) != (
                configured.shift_steps, configured.ec2, configured.fargate):
            return None, (f"the target file records {recorded.describe()}, but {configured.describe()}: "
                          "run `pulumi up` to deploy the config, then `soundbite migrate init --force`")
        return configured, None
    if recorded is not None:
        return recorded, None
    if (target.asg_name or target.ecs_service) and not given:
        return None, UNKNOWN_CAPACITY
    return None, None


def _direct_clients(target: Target, session, sleep) -> dict[str, SoundbiteClient]:
    """A synthetic client per direct name, once the target says how they sign in
    (`synthetic_auth`, `{anonymous: true}` where the API runs with authentication off)."""
    if not target.direct_urls or not target.synthetic_auth:
        return {}
    tokens = token_source(target.synthetic_auth, session)
    return {lane: SoundbiteClient(lane, url, tokens, sleep=sleep)
            for lane, url in target.direct_urls.items()}


def build_engine(target: Target, plan: Plan, via: str = "route53",
                 on_event: Callable[[dict], None] | None = None, session=None,
                 sleep: Callable[[float], None] = time.sleep, now: Callable[[], float] = time.time,
                 select_stack: Callable | None = None,
                 overrides: EngineOverrides | None = None) -> Engine:
    """The engine `soundbite migrate` runs; `overrides` only where there is no AWS to ask."""
    overrides = overrides or EngineOverrides()
    session = _BoundedSession(session or boto3.session.Session(region_name=target.region))
    if not session.region_name:
        raise ConfigError("no AWS region: set `region` in the target file, AWS_DEFAULT_REGION, or a profile's region")
    zone_id, record = target.require_route()
    direct = Route53WeightedRouter(zone_id, record, client=session.client("route53"),
                                   sleep=sleep, now=now, poll_seconds=plan.insync_poll_seconds)
    phase_source = None
    pulumi_stack = None
    if target.pulumi_dir and via == "pulumi":
        pulumi_stack = automation.select_stack(target.stack, target.pulumi_dir, select=select_stack)
        phase_source = PulumiConfigPhase(pulumi_stack)
    elif stack_file_of(target):
        phase_source = StackFilePhase(stack_file_of(target), target.stack)
    configured, capacity_problem = stack_capacity(target, given=(
        overrides.ec2_capacity is not None and overrides.fargate_capacity is not None))
    metrics, metrics_problem = _metrics(target, session.client("cloudwatch"))
    sizes = {"ec2_capacity": configured.ec2, "fargate_capacity": configured.fargate} if configured else {}
    sizes.update({name: value for name in ("ec2_capacity", "fargate_capacity")
                  if (value := getattr(overrides, name)) is not None})
    engine = Engine(
        stack=target.stack, plan=plan, router=direct, direct_router=direct,
        ledger=Ledger(target.ledger, target.stack, client=session.client("dynamodb"), now=now,
                      owner=overrides.ledger_owner),
        metrics=metrics, metrics_problem=metrics_problem,
        alarms=AlarmStates(target.alarms, session.client("cloudwatch")),
        health=_health(target, session, overrides.health or {}),
        probe=overrides.probe or (HttpProbe(target.direct_urls) if target.direct_urls else None),
        phase_source=phase_source,
        ec2_scaler=AsgHealth(target.asg_name, session.client("autoscaling")) if target.asg_name else None,
        ec2_worker_scaler=(AsgHealth(target.worker_asg_name, session.client("autoscaling"))
                           if target.worker_asg_name else None),
        fargate_scaler=(EcsServiceHealth(target.ecs_cluster, target.ecs_service, session.client("ecs"))
                        if target.ecs_cluster and target.ecs_service else None),
        fargate_capacity_rps=target.fargate_capacity_rps,
        direct_clients=_direct_clients(target, session, sleep),
        synthetic_in_metrics=True,  # direct names go through each stack's balancer
        stack_capacity=configured, capacity_problem=capacity_problem, **sizes,
        sleep=sleep, now=now, on_event=on_event or (lambda _e: None),
    )
    if via == "pulumi":
        if pulumi_stack is None:
            raise ConfigError("--via pulumi needs --pulumi-dir (the directory with Pulumi.yaml)")
        engine.router = PulumiRouter(pulumi_stack, direct, engine.phase_table)
    elif via != "route53":
        raise ConfigError(f"unknown router {via!r} (route53 or pulumi)")
    return engine
