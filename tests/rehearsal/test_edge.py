"""The edge against real lanes (tiny HTTP servers) and the emulator's Route 53 and CloudWatch."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from migration import dns_setup
from migration.edge_metrics import edge_profile
from migration.metrics import CloudWatchMetrics
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
def zone(moto_server):
    route53 = moto_server.client("route53")
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


def test_routes_by_weight_and_follows_a_change_after_the_ttl(lanes, zone, moto_server):
    route53, zone_id, targets, name = zone
    clock = [0.0]
    resolver = WeightedResolver(route53, zone_id, name,
                                {t: lane for lane, t in targets.items()}, now=lambda: clock[0])
    edge = Edge(resolver, lanes, moto_server.client("cloudwatch"), "edgetest", period=60)
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


def test_injected_errors_are_answered_and_published_for_the_judge(lanes, zone, moto_server):
    route53, zone_id, targets, name = zone
    resolver = WeightedResolver(route53, zone_id, name,
                                {t: lane for lane, t in targets.items()})
    cloudwatch = moto_server.client("cloudwatch")
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
    window = CloudWatchMetrics(edge_profile(environment, ("ec2", "fargate"), period=1),
                               client=cloudwatch).lane("ec2", started - 5, time.time() + 5)
    assert (window.requests, window.errors) == (10, 10)
    assert window.p95_ms is not None
