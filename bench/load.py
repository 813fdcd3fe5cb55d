"""HTTP load against one endpoint: wrk when it is installed, else a Python closed loop.

Both speak the same three modes (`get`, `post` with a fresh UUID v4 Idempotency-Key per
request, `replay` with one key) and return the same fields: requests per second,
p50/p95/p99 latency, and how many requests failed. `paced` sends at a fixed rate instead
(open loop: each request has its slot on a schedule, and its latency counts from that slot,
so a slow answer cannot hide the requests it delayed).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from bench import stats

SCRIPT = Path(__file__).with_name("lua") / "soundbite.lua"
WRK_THREADS = 2
_install_tried = False


@dataclass(frozen=True)
class Target:
    """What to send: `mode` get/post/replay to `url` + `path`."""

    url: str
    path: str
    mode: str = "get"
    body: str = ""
    key: str = ""


def find_wrk(install: bool = True) -> str | None:
    """wrk's path; tries one quiet `apt-get install wrk` when it is missing (root only)."""
    global _install_tried
    found = shutil.which("wrk")
    if found or not install or _install_tried:
        return found
    _install_tried = True
    apt = shutil.which("apt-get")
    if apt and hasattr(os, "geteuid") and os.geteuid() == 0:
        subprocess.run([apt, "install", "-y", "-q", "wrk"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=300, check=False)
    return shutil.which("wrk")


def run(target: Target, duration: float, connections: int, tool: str | None = None) -> dict:
    """Closed-loop load for `duration` seconds; returns throughput, latency and failures."""
    wrk = find_wrk() if tool in (None, "wrk") else None
    if wrk:
        return _run_wrk(wrk, target, duration, connections)
    return _run_python(target, duration, connections)


def paced(target: Target, duration: float, rate: float, connections: int) -> dict:
    """`rate` requests per second on a fixed schedule, spread over `connections`."""
    return _run_python(target, duration, connections, interval=connections / rate)


def _run_wrk(wrk: str, target: Target, duration: float, connections: int) -> dict:
    seconds = max(1, round(duration))
    argv = [wrk, "-t", str(min(WRK_THREADS, connections)), "-c", str(connections),
            "-d", f"{seconds}s", "--timeout", "10s", "-s", str(SCRIPT), target.url, "--",
            target.mode, str(random.randrange(1, 2**31)), target.path, target.body, target.key]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=False)
    line = next((ln for ln in reversed(done.stdout.splitlines()) if ln.startswith("{")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed (exit {done.returncode}): {done.stderr.strip()[:300]}")
    raw = json.loads(line)
    elapsed = raw["duration_us"] / 1e6
    failed = sum(raw[k] for k in ("connect_errors", "read_errors", "write_errors",
                                  "status_errors", "timeouts"))
    return {
        "tool": "wrk", "requests": raw["requests"], "seconds": round(elapsed, 2),
        "rps": round(raw["requests"] / elapsed, 1) if elapsed else 0.0,
        "p50_ms": raw["p50_us"] / 1000, "p95_ms": raw["p95_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000, "mean_ms": round(raw["mean_us"] / 1000, 2),
        "failed": failed,
    }


def _run_python(target: Target, duration: float, connections: int,
                interval: float | None = None) -> dict:
    import urllib3

    pool = urllib3.connection_from_url(target.url, maxsize=connections, block=True,
                                       retries=False, timeout=10.0)
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    started = time.perf_counter()
    deadline = started + duration

    def connection(offset: float) -> None:
        mine, failed = [], 0
        slot = started + offset
        while time.perf_counter() < deadline:
            if interval is not None:
                time.sleep(max(0.0, slot - time.perf_counter()))
            headers = {"Content-Type": "application/json"}
            if target.mode != "get":
                headers["Idempotency-Key"] = target.key if target.mode == "replay" else str(uuid.uuid4())
            t0 = slot if interval is not None else time.perf_counter()
            try:
                response = pool.request("GET" if target.mode == "get" else "POST", target.path,
                                        body=None if target.mode == "get" else target.body,
                                        headers=headers)
                if response.status >= 400:
                    failed += 1
            except urllib3.exceptions.HTTPError:
                failed += 1
            mine.append(time.perf_counter() - t0)
            if interval is not None:
                slot += interval
        with lock:
            latencies.extend(mine)
            failures[0] += failed

    spread = (interval or 0.0) / connections
    threads = [threading.Thread(target=connection, args=(i * spread,), daemon=True)
               for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    pool.close()
    return {"tool": "python" if interval is None else "python-paced", "requests": len(latencies), "seconds": round(elapsed, 2),
            "rps": round(len(latencies) / elapsed, 1), **stats.latency_summary(latencies),
            "failed": failures[0]}
