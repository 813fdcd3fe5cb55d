"""The edge: plays Route 53 and each stack's load balancer for the rehearsal.

The public address sends each request to a lane picked by the weighted records (re-read
after their TTL); each lane also has a direct address of its own, as each stack's load
balancer has (`direct_urls`: validate and the judge's synthetic requests use them). The edge
can inject faults into one lane (5xx answers, added latency) and publishes, every period,
what each lane's load balancer would publish to CloudWatch (`migration.edge_metrics`).
"""

from __future__ import annotations

import json
import logging
import math
import random
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import urllib3

from migration.edge_metrics import EDGE_PERIOD_SECONDS, publish_lane_metrics
from migration.rehearsal.resolver import WeightedResolver

HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
               "proxy-authorization", "proxy-authenticate", "host", "content-length"}
log = logging.getLogger("soundbite.rehearsal.edge")


@dataclass
class LaneFaults:
    error_fraction: float = 0.0
    latency_ms: float = 0.0


@dataclass
class LaneStats:
    requests: int = 0  # answered by the lane's targets
    errors: int = 0  # 5xx the targets answered
    balancer_errors: int = 0  # 5xx the load balancer answered itself (target unreachable)
    latencies_ms: list[float] = field(default_factory=list)  # the targets' response times

    def p95(self) -> float | None:
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


@dataclass(frozen=True)
class PeriodSample:
    """One published period of one lane; the report draws the timeline from these."""

    at: float
    lane: str
    requests: int  # every request the lane's balancer saw, as the judge counts them
    errors: int  # 5xx from the targets and from the balancer
    p95_ms: float | None
    weight: int


class Edge:
    def __init__(self, resolver: WeightedResolver, lane_urls: dict[str, str], cloudwatch,
                 environment: str, period: float = EDGE_PERIOD_SECONDS, rng: random.Random | None = None,
                 now=time.time, on_sample=None) -> None:
        self.resolver = resolver
        self.lane_urls = dict(lane_urls)
        self.cloudwatch = cloudwatch
        self.environment = environment
        self.period = period
        self.faults = {lane: LaneFaults() for lane in lane_urls}
        self.samples: list[PeriodSample] = []
        self._rng = rng or random.Random()
        self._now = now
        self._on_sample = on_sample or (lambda _sample: None)
        self._period_start = now()
        self._lock = threading.Lock()
        self._stats = {lane: LaneStats() for lane in lane_urls}
        self._http = urllib3.PoolManager(maxsize=32, retries=False,
                                         timeout=urllib3.Timeout(connect=1.0, read=15.0))
        self._servers: list[ThreadingHTTPServer] = []
        self.direct_urls: dict[str, str] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # --- serving -------------------------------------------------------------------------

    def _listen(self, port: int, lane: str | None) -> str:
        """One address: the weighted public one (`lane` None) or one lane's direct one."""
        edge = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # the edge's own metrics are its log
                pass

            def _handle(self) -> None:
                edge.forward(self, lane)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = do_PATCH = _handle

        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        server.daemon_threads = True
        self._servers.append(server)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        self._threads.append(thread)
        return f"http://127.0.0.1:{server.server_address[1]}"

    def start(self, port: int = 0) -> str:
        """Serve the public address (returned) and each lane's direct one (`direct_urls`)."""
        url = self._listen(port, None)
        self.direct_urls = {lane: self._listen(0, lane) for lane in self.lane_urls}
        thread = threading.Thread(target=self._publish_loop, daemon=True)
        thread.start()
        self._threads.append(thread)
        return url

    def stop(self) -> None:
        self._stop.set()
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self.flush()

    def forward(self, request: BaseHTTPRequestHandler, lane: str | None = None) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else None
        lane = lane or self.resolver.pick()
        if lane is None:
            self._reply(request, 503, {"title": "no healthy target"})
            return
        started = time.perf_counter()
        faults = self.faults[lane]
        if faults.latency_ms:
            time.sleep(faults.latency_ms / 1000)
        if faults.error_fraction and self._rng.random() < faults.error_fraction:
            status, reached = self._reply(request, 503, {"title": "injected fault", "lane": lane}), True
        else:
            status, reached = self._proxy(request, lane, body)
        self._record(lane, status, (time.perf_counter() - started) * 1000, reached)

    def _proxy(self, request: BaseHTTPRequestHandler, lane: str, body: bytes | None) -> tuple[int, bool]:
        """The lane's answer, and whether a target gave it (False: the balancer answered)."""
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        headers["X-Forwarded-For"] = request.client_address[0]
        headers["X-Forwarded-Proto"] = "http"
        try:
            upstream = self._http.request(request.command, self.lane_urls[lane] + request.path,
                                          body=body, headers=headers, redirect=False,
                                          preload_content=True)
        except urllib3.exceptions.HTTPError:
            return self._reply(request, 502, {"title": "target unreachable", "lane": lane}), False
        request.send_response(upstream.status)
        for key, value in upstream.headers.items():
            if key.lower() not in HOP_HEADERS:
                request.send_header(key, value)
        request.send_header("Content-Length", str(len(upstream.data)))
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(upstream.data)
        return upstream.status, True

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, status: int, body: dict) -> int:
        data = json.dumps({"status": status, **body}).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/problem+json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)
        return status

    # --- metrics -------------------------------------------------------------------------

    def _record(self, lane: str, status: int, elapsed_ms: float, reached_target: bool) -> None:
        with self._lock:
            stats = self._stats[lane]
            if not reached_target:
                stats.balancer_errors += 1
                return
            stats.requests += 1
            stats.errors += status >= 500
            stats.latencies_ms.append(elapsed_ms)

    def _publish_loop(self) -> None:
        while not self._stop.wait(self.period):
            self.flush()

    def flush(self) -> None:
        """Publish the period just ended for every lane (an idle lane publishes zeros)."""
        at = self._now()
        with self._lock:
            stats, self._stats = self._stats, {lane: LaneStats() for lane in self.lane_urls}
            started, self._period_start = self._period_start, at
        weights = self.resolver.weights()
        for lane, lane_stats in stats.items():
            sample = PeriodSample(at, lane, lane_stats.requests + lane_stats.balancer_errors,
                                  lane_stats.errors + lane_stats.balancer_errors,
                                  lane_stats.p95(), weights.get(lane, 0))
            self.samples.append(sample)
            self._on_sample(sample)
            try:
                # Stamped with the period's start, as CloudWatch stamps its own periods.
                publish_lane_metrics(self.cloudwatch, lane, lane_stats.requests, lane_stats.errors,
                                     lane_stats.latencies_ms, started, environment=self.environment,
                                     balancer_errors=lane_stats.balancer_errors)
            except Exception as exc:  # metrics loss must not take the edge down
                log.warning("could not publish edge metrics: %s", exc)
