"""The edge against real lanes (tiny HTTP servers) and the emulator's Route 53 and CloudWatch:
it routes like Route 53 and publishes what each stack's load balancer would."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from infra.local import emulator
from migration import dns_setup
from migration.edge_metrics import EDGE_PERIOD_SECONDS, balancer_names
from migration.metrics import CloudWatchMetrics, alb_profile
from migration.rehearsal.edge import Edge
from migration.rehearsal.resolver import WeightedResolver


def lane_server(name: str):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"lane": name, "forwarded_for": self.headers.get("X-Forwarded-For")})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def lanes():
    servers = {name: lane_server(name) for name in ("ec2", "fargate")}
    yield {name: f"http://127.0.0.1:{s.server_address[1]}" for name, s in servers.items()}
    for server in servers.values():
        server.shutdown()


@pytest.fixture
def zone(aws_emulator):
    route53 = aws_emulator.client("route53")
    targets = {"ec2": "ec2.lanes.edge.test", "fargate": "fargate.lanes.edge.test"}
    zone_name = f"z{time.time_ns()}.test"
    name = f"api.{zone_name}"
    zone_id = dns_setup.create_weighted_zone(route53, zone_name, name, targets,
                                             {"ec2": 100, "fargate": 0}, ttl=1)
    return route53, zone_id, targets, name


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_routes_by_weight_and_follows_a_change_after_the_ttl(lanes, zone, aws_emulator):
    route53, zone_id, targets, name = zone
    clock = [0.0]
    resolver = WeightedResolver(route53, zone_id, name,
                                {t: lane for lane, t in targets.items()}, now=lambda: clock[0])
    edge = Edge(resolver, lanes, aws_emulator.client("cloudwatch"), "edgetest", period=60)
    url = edge.start()
    try:
        assert {get(url + "/x")[1]["lane"] for _ in range(20)} == {"ec2"}
        dns_setup.upsert_weighted_records(route53, zone_id, name, targets,
                                          {"ec2": 0, "fargate": 100}, ttl=1)
        assert get(url + "/x")[1]["lane"] == "ec2"  # cached until the record's TTL passes
        clock[0] = 1.5
        assert {get(url + "/x")[1]["lane"] for _ in range(20)} == {"fargate"}
        assert get(url + "/x")[1]["forwarded_for"] == "127.0.0.1"
    finally:
        edge.stop()


def judged(cloudwatch, environment: str) -> CloudWatchMetrics:
    """What the judge reads: the production profile over the edge's load balancer names."""
    names = balancer_names(environment)
    return CloudWatchMetrics(alb_profile(names["load_balancers"], names["target_groups"],
                                         period=EDGE_PERIOD_SECONDS), client=cloudwatch)


def test_injected_errors_are_answered_and_published_for_the_judge(lanes, zone, aws_emulator):
    route53, zone_id, targets, name = zone
    resolver = WeightedResolver(route53, zone_id, name,
                                {t: lane for lane, t in targets.items()})
    cloudwatch = aws_emulator.client("cloudwatch")
    environment = f"e{time.time_ns()}"
    edge = Edge(resolver, lanes, cloudwatch, environment, period=60)
    edge.faults["ec2"].error_fraction = 1.0
    url = edge.start()
    started = time.time()
    try:
        statuses = [get(url + "/x")[0] for _ in range(10)]
    finally:
        edge.stop()
    assert statuses == [503] * 10
    window = judged(cloudwatch, environment).lane("ec2", started - 5, time.time() + 5)
    assert (window.requests, window.errors, window.balancer_errors) == (10, 10, 0)


def test_each_lane_has_a_direct_address_and_its_latency_is_a_true_percentile(lanes, zone, aws_emulator):
    """Direct names reach one lane whatever the weights; TargetResponseTime is published per
    request, so the p95 CloudWatch computes is the requests' own (here: 19 fast, 1 slow)."""
    route53, zone_id, targets, name = zone
    resolver = WeightedResolver(route53, zone_id, name, {t: lane for lane, t in targets.items()})
    cloudwatch = aws_emulator.client("cloudwatch")
    environment = f"e{time.time_ns()}"
    edge = Edge(resolver, lanes, cloudwatch, environment, period=60)
    edge.start()
    started = time.time()
    try:
        assert {get(edge.direct_urls["fargate"] + "/x")[1]["lane"] for _ in range(19)} == {"fargate"}
        edge.faults["fargate"].latency_ms = 400
        assert get(edge.direct_urls["fargate"] + "/x")[1]["lane"] == "fargate"
    finally:
        edge.stop()
    window = judged(cloudwatch, environment).lane("fargate", started - 5, time.time() + 5)
    assert window.requests == 20 and window.errors == 0
    # between the 19th and the 20th request's time: never the slow one, as a max would report
    assert 0 < window.p95_ms < 400, window


def test_an_unreachable_lane_is_the_balancers_own_5xx(lanes, zone, aws_emulator):
    """A lane that refuses connections is answered 502 by the edge, published as
    HTTPCode_ELB_5XX_Count (it never reached a target), and the judge counts it as an error."""
    route53, zone_id, targets, name = zone
    resolver = WeightedResolver(route53, zone_id, name, {t: lane for lane, t in targets.items()})
    cloudwatch = aws_emulator.client("cloudwatch")
    environment = f"e{time.time_ns()}"
    dead = {**lanes, "fargate": f"http://127.0.0.1:{emulator.free_port()}"}
    edge = Edge(resolver, dead, cloudwatch, environment, period=60)
    edge.start()
    started = time.time()
    try:
        assert [get(edge.direct_urls["fargate"] + "/x")[0] for _ in range(4)] == [502] * 4
    finally:
        edge.stop()
    window = judged(cloudwatch, environment).lane("fargate", started - 5, time.time() + 5)
    assert (window.requests, window.errors, window.balancer_errors) == (4, 4, 4)
