"""API benchmark: SoundBite on gunicorn against its floors, measured in the same run.

Scenarios, each driven by wrk (or the Python fallback) with keep-alive connections:
`GET /v1/soundbites/<id>` answered from the cache, `POST /v1/soundbites` with a new
Idempotency-Key per request, and an idempotent replay (one key, same body). Floors:
a bare Flask app on the same gunicorn settings (framework floor) and a raw boto3 loop
making a create's four data-plane calls (I/O floor). Then each SoundBite scenario again at
a fixed, moderate rate, where p95 must stay under 100 ms.

    python -m bench.api [--json] [--short] [--runs N]
"""

from __future__ import annotations

import contextlib
import json
import time

from bench import cli, io_floor, load, machine, servers, stats
from bench.load import Target

FULL_SECONDS, SHORT_SECONDS = 10, 1
FULL_RUNS = 3
CONNECTIONS = 16
"""As many as the API's request slots (2 gunicorn workers x 8 threads)."""
MODERATE_RPS = 25
"""A quarter to a third of what a create can reach on the emulator: moderate, for every scenario."""
MODERATE_CONNECTIONS = 8
MODERATE_P95_LIMIT_MS = 100.0
GET_TARGET, POST_TARGET = 0.5, 0.7
GET_P99_LIMIT = 2.0
"""A cached GET's p99 at most this many times bare Flask's, in the same run."""
BUSIEST_WORKER_LIMIT = 0.75
"""A run where one gunicorn worker did more than this share of the work is measured again.
The keep-alive connections are opened once, and the kernel sometimes hands (nearly) all of
them to one worker: that run measures one process on one core against two, for SoundBite and
bare Flask alike, and says nothing about the code."""
SKEWED_RETRIES = 3
WEB_WORKERS, WEB_THREADS = 2, 8
BODY = json.dumps({"text": io_floor.TEXT})
FIELDS = ("rps", "p50_ms", "p95_ms", "p99_ms", "failed")


def _servers(api_pid: int, bare_pid: int) -> dict[str, int]:
    """The gunicorn arbiter behind each scenario (the I/O floor has none)."""
    return {"bare_flask_get": bare_pid, "get_cached": api_pid, "bare_flask_post": bare_pid,
            "post_create": api_pid, "replay": api_pid}


def _scenarios(api: str, bare: str, soundbite_id: str, replay_key: str) -> dict[str, Target]:
    path = f"/v1/soundbites/{soundbite_id}"
    return {
        "bare_flask_get": Target(bare, path),
        "get_cached": Target(api, path),
        "bare_flask_post": Target(bare, "/v1/soundbites", "post", BODY),
        "post_create": Target(api, "/v1/soundbites", "post", BODY),
        "replay": Target(api, "/v1/soundbites", "replay", BODY, replay_key),
    }


def _purge(stack) -> None:
    # A deep queue slows the emulator's SQS; every create scenario starts from an empty one.
    # A refused purge only means a slightly deeper queue.
    with contextlib.suppress(Exception):
        stack.emulator.client("sqs").purge_queue(QueueUrl=stack.data_plane.queue_url)


def measure(seconds: float, runs: int, connections: int = CONNECTIONS, tool: str | None = None,
            moderate_seconds: float | None = None) -> dict:
    """Run every scenario `runs` times (interleaved), then the moderate-load pass."""
    tool_name = "wrk" if (tool in (None, "wrk") and load.find_wrk()) else "python"
    result = {"benchmark": "api", "machine": machine.describe(), "settings": {
        "seconds": seconds, "runs": runs, "connections": connections, "tool": tool_name,
        "gunicorn_workers": WEB_WORKERS, "gunicorn_threads": WEB_THREADS,
        "moderate_rps": MODERATE_RPS, "moderate_connections": MODERATE_CONNECTIONS}}
    with servers.soundbite_stack() as local:
        lane = local.add_lane("ec2", worker=False)
        status, created = servers.post_json(f"{lane.url}/v1/soundbites", BODY)
        if status != 202:
            raise RuntimeError(f"the API answered {status} to a create")
        replay_key = "6f1c2b9e-3d4a-4c8b-9e7f-0a1b2c3d4e5f"
        servers.post_json(f"{lane.url}/v1/soundbites", BODY, replay_key)
        body = servers.get_text(f"{lane.url}/v1/soundbites/{created['id']}")
        bare = servers.start_bare_flask(body, lane.env)
        try:
            targets = _scenarios(lane.url, bare.url, created["id"], replay_key)
            floor = io_floor.Floor(local.emulator.endpoint, local.data_plane.environment,
                                   local.data_plane.soundbites_table, local.data_plane.idempotency_table,
                                   local.data_plane.queue_url)
            served_by = _servers(lane.api.pid, bare.process.pid)
            result["runs"] = _rounds(local, targets, served_by, floor, seconds, runs, connections, tool)
            result["moderate_load"] = _moderate(targets, moderate_seconds or seconds)
            result["worker_rss_mib"] = machine.children_rss_mib(lane.api.pid)
        finally:
            bare.stop()
    names = list(result["runs"][0])
    result["scenarios"] = {n: stats.median_of_runs([r[n] for r in result["runs"]], FIELDS) for n in names}
    result["ratios"] = _ratios(result["runs"])
    result["targets"] = _targets(result)
    return result


def busiest_share(before: dict[int, float], after: dict[int, float]) -> float | None:
    """The largest share of the CPU time the workers used between two readings."""
    used = [after[pid] - before.get(pid, 0.0) for pid in after]
    total = sum(used)
    return max(used) / total if total > 0 and len(used) > 1 else None


def _balanced_run(target: Target, server_pid: int, seconds, connections, tool) -> dict:
    """One load run; again (at most SKEWED_RETRIES times) while one worker did nearly all the
    work. The result says how often it was measured again and how the work was shared."""
    for attempt in range(SKEWED_RETRIES + 1):
        before = machine.children_cpu_seconds(server_pid)
        run = load.run(target, seconds, connections, tool=tool)
        share = busiest_share(before, machine.children_cpu_seconds(server_pid))
        run.update(busiest_worker_share=share, skewed_retries=attempt)
        if share is None or share <= BUSIEST_WORKER_LIMIT:
            return run
    return run


def _rounds(local, targets, served_by, floor, seconds, runs, connections, tool) -> list[dict]:
    rounds = []
    steps = len(targets) + 1
    with cli.progress() as bar:
        task = bar.add_task("api", total=runs * steps)
        for n in range(runs):
            measured = {}
            for name, target in targets.items():
                bar.update(task, description=f"api run {n + 1}/{runs}: {name}")
                if name == "post_create":
                    _purge(local)
                measured[name] = _balanced_run(target, served_by[name], seconds, connections, tool)
                bar.advance(task)
            bar.update(task, description=f"api run {n + 1}/{runs}: io_floor_create")
            _purge(local)
            measured["io_floor_create"] = io_floor.run(floor, WEB_WORKERS, connections // WEB_WORKERS, seconds)
            bar.advance(task)
            rounds.append(measured)
    return rounds


def _moderate(targets: dict[str, Target], seconds: float) -> dict:
    found = {}
    with cli.progress() as bar:
        task = bar.add_task("api moderate load", total=3)
        for name in ("get_cached", "post_create", "replay"):
            bar.update(task, description=f"api at {MODERATE_RPS} req/s: {name}")
            run = load.paced(targets[name], seconds, MODERATE_RPS, MODERATE_CONNECTIONS)
            found[name] = {k: run[k] for k in ("rps", "p50_ms", "p95_ms", "p99_ms", "failed")}
            bar.advance(task)
    return found


def _ratios(runs: list[dict]) -> dict:
    """Per run, then the median: each ratio compares measurements taken minutes apart at most."""
    pairs = {"get_cached_vs_bare_flask": ("get_cached", "bare_flask_get"),
             "replay_vs_bare_flask": ("replay", "bare_flask_post"),
             "post_create_vs_io_floor": ("post_create", "io_floor_create")}
    found = {name: stats.median(stats.ratio(r[a]["rps"], r[b]["rps"]) for r in runs)
             for name, (a, b) in pairs.items()}
    found["get_cached_p99_vs_bare_flask"] = stats.median(
        stats.ratio(r["get_cached"]["p99_ms"], r["bare_flask_get"]["p99_ms"]) for r in runs)
    return found


def _targets(result: dict) -> list[dict]:
    r, moderate = result["ratios"], result["moderate_load"]
    rows = [
        {"target": "GET cached >= 50 % of bare Flask throughput", "value": r["get_cached_vs_bare_flask"],
         "limit": GET_TARGET, "met": (r["get_cached_vs_bare_flask"] or 0) >= GET_TARGET},
        {"target": "GET cached p99 <= 2x bare Flask's", "value": r["get_cached_p99_vs_bare_flask"],
         "limit": GET_P99_LIMIT, "met": r["get_cached_p99_vs_bare_flask"] is not None
         and r["get_cached_p99_vs_bare_flask"] <= GET_P99_LIMIT},
        {"target": "POST >= 70 % of the I/O floor", "value": r["post_create_vs_io_floor"],
         "limit": POST_TARGET, "met": (r["post_create_vs_io_floor"] or 0) >= POST_TARGET},
    ]
    for name, run in moderate.items():
        rows.append({"target": f"{name} p95 < {MODERATE_P95_LIMIT_MS:.0f} ms at {MODERATE_RPS} req/s",
                     "value": run["p95_ms"], "limit": MODERATE_P95_LIMIT_MS,
                     "met": run["p95_ms"] is not None and run["p95_ms"] < MODERATE_P95_LIMIT_MS})
    return rows


LABELS = {
    "bare_flask_get": "bare Flask, GET (framework floor)",
    "get_cached": "SoundBite GET /v1/soundbites/{id}, cached",
    "bare_flask_post": "bare Flask, POST (framework floor)",
    "post_create": "SoundBite POST /v1/soundbites, new key",
    "replay": "SoundBite POST, idempotent replay",
    "io_floor_create": "raw boto3: a create's 4 data-plane calls (I/O floor)",
}


def _ms(value) -> str:
    return "-" if value is None else f"{value:.1f}"


def markdown(result: dict) -> str:
    s = result["settings"]
    lines = [f"API, {s['seconds']} s per scenario, median of {s['runs']} runs, {s['connections']} "
             f"keep-alive connections ({s['tool']}), gunicorn {s['gunicorn_workers']} workers x "
             f"{s['gunicorn_threads']} threads, on the emulator.", "",
             "| scenario | req/s | p50 ms | p95 ms | p99 ms | failed |", "|---|---:|---:|---:|---:|---:|"]
    for name, row in result["scenarios"].items():
        lines.append(f"| {LABELS.get(name, name)} | {row['rps']:.0f} | {_ms(row['p50_ms'])} | "
                     f"{_ms(row['p95_ms'])} | {_ms(row['p99_ms'])} | {row['failed']:.0f} |")
    retried = sum(run[name].get("skewed_retries", 0) for run in result["runs"] for name in run)
    lines += ["", f"Runs measured again because one gunicorn worker did more than "
              f"{BUSIEST_WORKER_LIMIT:.0%} of the work (the kernel gave it nearly every connection): "
              f"{retried}."]
    if result.get("worker_rss_mib"):
        lines += ["", "Resident memory of each gunicorn worker after the runs: "
                  + ", ".join(f"{mib:.0f} MiB" for mib in result["worker_rss_mib"]) + "."]
    lines += ["", f"At a fixed {s['moderate_rps']} req/s (open loop, latency from each request's slot):", "",
              "| scenario | req/s | p50 ms | p95 ms | p99 ms |", "|---|---:|---:|---:|---:|"]
    for name, row in result["moderate_load"].items():
        lines.append(f"| {LABELS[name]} | {row['rps']:.0f} | {_ms(row['p50_ms'])} | "
                     f"{_ms(row['p95_ms'])} | {_ms(row['p99_ms'])} |")
    lines += ["", "| target | measured | limit | met |", "|---|---:|---:|---|"]
    for row in result["targets"]:
        value = "-" if row["value"] is None else f"{row['value']:.2f}"
        lines.append(f"| {row['target']} | {value} | {row['limit']:g} | {'yes' if row['met'] else 'NO'} |")
    return "\n".join(lines)


def run(short: bool = False, runs: int | None = None, seconds: float | None = None,
        tool: str | None = None) -> dict:
    """The benchmark with its full (or short) settings; what `--json` prints."""
    seconds = seconds or (SHORT_SECONDS if short else FULL_SECONDS)
    started = time.monotonic()
    result = measure(seconds, cli.positive_runs(runs, short, FULL_RUNS),
                     4 if short else CONNECTIONS, tool)
    result["wall_seconds"] = round(time.monotonic() - started, 1)
    return result


def main(argv: list[str] | None = None) -> None:
    p = cli.parser("SoundBite API throughput and latency against a bare-Flask and a boto3 floor.")
    p.add_argument("--seconds", type=float, help="seconds per scenario")
    p.add_argument("--tool", choices=("wrk", "python"), help="load generator (default: wrk if present)")
    args = p.parse_args(argv)
    cli.emit(run(args.short, args.runs, args.seconds, args.tool), args.json, markdown)


if __name__ == "__main__":
    main()
