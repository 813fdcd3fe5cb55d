"""Fixtures for the migration engine: a fake clock, weighted records on the emulator,
synthetic per-lane traffic published to the emulated CloudWatch, and engines built by the
production factory."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from migration.dns_setup import create_weighted_zone
from migration.edge_metrics import publish_lane_metrics
from migration.edge_metrics import target_fields as edge_target_fields
from migration.engine import Engine
from migration.factory import EngineOverrides, build_engine
from migration.health import AsgHealth, EcsServiceHealth, HttpProbe
from migration.plan import quick_plan
from migration.router import Route53WeightedRouter
from migration.target import Target
from soundbite import spec

EC2, FARGATE = spec.STACKS


class Crash(BaseException):
    """Stands for a killed process: not an Exception, so nothing cleans up after it."""


class FakeClock:
    """Starts at a recent wall-clock second; `sleep` advances it and runs the listeners."""

    def __init__(self):
        self.t = float(int(time.time()) - 600)
        self.listeners: list[Callable[[float, float], None]] = []
        self.sleeps = 0
        self.crash_after: int | None = None

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        if self.crash_after is not None and self.sleeps > self.crash_after:
            raise Crash()
        start, self.t = self.t, self.t + seconds
        for listener in self.listeners:
            listener(start, self.t)


@pytest.fixture
def clock():
    return FakeClock()


@dataclass
class Traffic:
    """Per-lane requests at the live weights, published as the edge would publish them."""

    cloudwatch: object
    router: Route53WeightedRouter
    environment: str
    rate: float = 100.0
    error_rate: dict[str, float] = field(default_factory=lambda: {EC2: 0.001, FARGATE: 0.001})
    p95_ms: dict[str, float] = field(default_factory=lambda: {EC2: 80.0, FARGATE: 85.0})
    fault: Callable[[dict[str, int]], dict[str, float]] | None = None
    rng: random.Random = field(default_factory=lambda: random.Random(7))

    def __call__(self, start: float, end: float) -> None:
        seconds = int(end) - int(start)
        if seconds <= 0 or self.rate <= 0:
            return
        weights = self.router.current()
        total = sum(weights.values()) or 1
        errors = dict(self.error_rate)
        if self.fault:
            errors.update(self.fault(weights))
        for lane in (EC2, FARGATE):
            requests = round(self.rate * seconds * weights.get(lane, 0) / total)
            failed = sum(1 for _ in range(requests) if self.rng.random() < errors[lane])
            latencies = [self.p95_ms[lane]] * requests  # every request at the lane's p95
            publish_lane_metrics(self.cloudwatch, lane, requests, failed, latencies,
                                 int(start), environment=self.environment)


@pytest.fixture
def cloudwatch(boto_session):
    return boto_session.client("cloudwatch")


@pytest.fixture
def route53(boto_session):
    return boto_session.client("route53")


@pytest.fixture
def zone(route53):
    """A fresh hosted zone with both weighted records, all traffic on EC2."""
    name = f"z{uuid.uuid4().hex[:8]}.example.com"
    record = f"api.{name}"
    zone_id = create_weighted_zone(route53, name, record,
                                   {EC2: f"ec2.{name}", FARGATE: f"fargate.{name}"},
                                   {EC2: 100, FARGATE: 0})
    return zone_id, record


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):  # noqa: N802 - the handler's protocol name
        self.send_response(self.server.status)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def direct_names():
    """Two real HTTP servers standing for the stacks' direct names; `.status` sets the answer."""
    servers = {}
    for lane in (EC2, FARGATE):
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
        server.status = 200
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers[lane] = server
    yield servers
    for server in servers.values():
        server.shutdown()
        server.server_close()


@pytest.fixture
def make_engine(fresh_data_plane, boto_session, clock, zone, cloudwatch, direct_names):
    """An engine built by the factory `soundbite migrate` uses, from a `Target` on the emulator.

    Only the clock, the ledger's owner and a shorter probe are the test's own; `overrides`
    replace engine fields a scenario stands in for. The traffic it sees is `engine.traffic`."""

    def build(plan=None, owner=None, traffic=True, **overrides) -> Engine:
        zone_id, record = zone
        urls = {lane: f"http://127.0.0.1:{s.server_address[1]}" for lane, s in direct_names.items()}
        target = Target(stack="dev", zone_id=zone_id, record_name=record,
                        environment=fresh_data_plane.environment, direct_urls=urls,
                        **edge_target_fields(fresh_data_plane.environment))
        engine = build_engine(target, plan or quick_plan(), session=boto_session, sleep=clock.sleep,
                              now=clock.now, overrides=EngineOverrides(
                                  ledger_owner=owner, probe=HttpProbe(urls, count=3)))
        for name, value in overrides.items():
            setattr(engine, name, value)
        if traffic and not any(isinstance(x, Traffic) for x in clock.listeners):
            clock.listeners.append(Traffic(cloudwatch, engine.router, fresh_data_plane.environment))
        return engine

    return build


@pytest.fixture
def traffic(clock):
    def get() -> Traffic:
        return next(x for x in clock.listeners if isinstance(x, Traffic))

    return get


@pytest.fixture
def stacks(boto_session):
    """An ECS service (2 tasks), an Auto Scaling group (2 instances) and an empty worker group
    on the emulator."""
    tag = uuid.uuid4().hex[:8]
    ecs = boto_session.client("ecs")
    cluster = f"c-{tag}"
    ecs.create_cluster(clusterName=cluster)
    ecs.register_task_definition(family=f"api-{tag}", containerDefinitions=[
        {"name": "api", "image": "soundbite:test", "memory": 512}])
    ecs.create_service(cluster=cluster, serviceName="api", taskDefinition=f"api-{tag}", desiredCount=2)
    ec2 = boto_session.client("ec2")
    image = ec2.describe_images()["Images"][0]["ImageId"]
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    autoscaling = boto_session.client("autoscaling")
    ec2.create_launch_template(LaunchTemplateName=f"lt-{tag}",
                               LaunchTemplateData={"ImageId": image, "InstanceType": "t3.micro"})
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=f"asg-{tag}", LaunchTemplate={"LaunchTemplateName": f"lt-{tag}"},
        MinSize=1, MaxSize=4, DesiredCapacity=2, VPCZoneIdentifier=subnet)
    autoscaling.create_auto_scaling_group(  # the EC2 workers, as `complete` leaves them
        AutoScalingGroupName=f"workers-{tag}", LaunchTemplate={"LaunchTemplateName": f"lt-{tag}"},
        MinSize=0, MaxSize=4, DesiredCapacity=0, VPCZoneIdentifier=subnet)
    return {
        EC2: [AsgHealth(f"asg-{tag}", autoscaling)],
        FARGATE: [EcsServiceHealth(cluster, "api", ecs)],
        "ecs": ecs, "cluster": cluster, "asg": AsgHealth(f"asg-{tag}", autoscaling),
        "worker_asg": AsgHealth(f"workers-{tag}", autoscaling),
    }
