"""Rehearsal benchmark: how long a whole local migration takes, and how fast a fault is caught.

Runs `soundbite rehearse --json` as a subprocess per scenario: the healthy run and every
fault kind, in the lanes and in the control plane. Reports the median of each summary's
duration, detection and rollback times, lost and duplicate soundbites, and the outcomes.

    python -m bench.rehearsal [--json] [--short] [--runs N] [--scenario NAME] [--busy K]

`--busy K` runs K CPU-bound processes beside every rehearsal (both cores busy at K = 2): the
quick plan must still promote a healthy run, topping up its thin canary sample.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import subprocess
import sys
import tempfile
import time
from collections import Counter

from bench import cli, machine, stats

FAULTS = {
    "errors": "fargate:errors=0.3@5",
    "errors-at-validate": "fargate:errors=0.3",
    "latency": "fargate:latency=400@25",
    "crash": "fargate:crash@25",
    "worker-crash": "fargate:worker-crash@25",
    "baseline-alarm": "ec2:alarm@25",
    "metrics-throttled": "control:metrics=throttle@25",
    "metrics-down": "control:metrics=down@25",
    "ledger-down": "control:ledger=down@25",
    "route53-slow": "control:route53=slow@25",
    "operator-rollback": "operator:rollback@25",
    "engine-crash": "engine:crash@50",
}
SCENARIOS = {"default": (), **{name: ("--fault", fault) for name, fault in FAULTS.items()}}
SHORT_SCENARIOS = ("errors", "operator-rollback")
FULL_RUNS = 3
RUN_TIMEOUT_SECONDS = 600
FIELDS = ("duration_seconds", "detection_seconds", "rollback_seconds", "lost", "duplicates")


def rehearse(extra: tuple[str, ...]) -> dict:
    """One rehearsal's summary (or why there is none)."""
    with tempfile.TemporaryDirectory(prefix="soundbite-bench-") as logs:
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "soundbite.cli", "rehearse", "--json", "--log-dir", logs, *extra],
            capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS, check=False)
        wall = round(time.monotonic() - started, 1)
    try:
        summary = json.loads(done.stdout)
    except ValueError:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"ok": False, "outcome": "error", "error": last[:300], "wall_seconds": wall,
                **{f: None for f in FIELDS}}
    soundbites = summary.get("soundbites") or {}
    invariants = summary.get("invariants") or {}
    broken = [n for n, c in invariants.items() if c.get("status") == "failed"]
    return {"ok": bool(summary.get("ok")), "outcome": summary.get("outcome"), "wall_seconds": wall,
            "reason": summary.get("result_reason"),
            "held": sum(c.get("status") == "held" for c in invariants.values()),
            "checked": sum(c.get("status") != "not checked" for c in invariants.values()),
            "broken": broken, "lost": soundbites.get("lost"), "duplicates": soundbites.get("duplicates"),
            **{f: summary.get(f) for f in FIELDS if f not in ("lost", "duplicates")}}


def _spin() -> None:
    while True:
        pass


@contextlib.contextmanager
def busy(processes: int):
    """`processes` CPU-bound processes for as long as the block runs."""
    context = multiprocessing.get_context("spawn")
    spinning = [context.Process(target=_spin, daemon=True) for _ in range(processes)]
    for process in spinning:
        process.start()
    try:
        yield
    finally:
        for process in spinning:
            process.kill()
            process.join()


def measure(names: tuple[str, ...], runs: int, hogs: int = 0) -> dict:
    result = {"benchmark": "rehearsal", "machine": machine.describe(),
              "settings": {"runs": runs, "busy_processes": hogs,
                           "scenarios": {n: " ".join(SCENARIOS[n]) or "(none)" for n in names}}}
    found: dict[str, list[dict]] = {n: [] for n in names}
    with cli.progress() as bar, busy(hogs):
        task = bar.add_task("rehearsal", total=runs * len(names))
        for n in range(runs):
            for name in names:
                bar.update(task, description=f"rehearsal run {n + 1}/{runs}: {name}")
                found[name].append(rehearse(SCENARIOS[name]))
                bar.advance(task)
    result["runs"] = found
    result["scenarios"] = {
        name: {**stats.median_of_runs(rows, FIELDS),
               "outcomes": sorted({str(r["outcome"]) for r in rows}),
               "outcome_counts": dict(Counter(str(r["outcome"]) for r in rows).most_common()),
               "ok_runs": sum(r["ok"] for r in rows), "runs": len(rows),
               "fewest_held": min((r.get("held") or 0 for r in rows), default=0),
               "fewest_checked": min((r.get("checked") or 0 for r in rows), default=0),
               "broken": sorted({b for r in rows for b in r.get("broken", [])}),
               "errors": [r["error"] for r in rows if r.get("error")]}
        for name, rows in found.items()}
    return result


def _s(value) -> str:
    return "-" if value is None else f"{value:.1f}"


def _n(value) -> str:
    return "-" if value is None else f"{value:g}"


def markdown(result: dict) -> str:
    s = result["settings"]
    beside = (f", {s['busy_processes']} CPU-bound processes beside each run"
              if s.get("busy_processes") else "")
    lines = [f"Rehearsal (`soundbite rehearse`, quick plan), median of {s['runs']} runs{beside}.", "",
             "Invariants: runs with none broken, then (fewest in a run) how many held of how many "
             "the run could check; a check a run cannot make is `not checked`, never counted as held.",
             "",
             "| scenario | fault | outcome | invariants held | duration s | detection s | rollback s "
             "| lost / duplicates |",
             "|---|---|---|---:|---:|---:|---:|---|"]
    for name, row in result["scenarios"].items():
        outcomes = ", ".join(o if row["runs"] == 1 else f"{o} {n}/{row['runs']}"
                             for o, n in row["outcome_counts"].items())
        lines.append(f"| {name} | {s['scenarios'][name]} | {outcomes} | "
                     f"{row['ok_runs']}/{row['runs']} ({row.get('fewest_held', '-')} of "
                     f"{row.get('fewest_checked', '-')}) | {_s(row['duration_seconds'])} | "
                     f"{_s(row['detection_seconds'])} | {_s(row['rollback_seconds'])} | "
                     f"{_n(row['lost'])} / {_n(row['duplicates'])} |")
    for name, row in result["scenarios"].items():
        if row["broken"]:
            lines.append(f"\n{name}: invariants broken in some run: {', '.join(row['broken'])}")
        for error in row["errors"]:
            lines.append(f"\n{name}: the rehearsal could not run: {error}")
    return "\n".join(lines)


def run(short: bool = False, runs: int | None = None, names: tuple[str, ...] | None = None,
        hogs: int = 0) -> dict:
    """The benchmark with its full (or short) settings; what `--json` prints."""
    names = tuple(names or (SHORT_SCENARIOS if short else SCENARIOS))
    return measure(names, cli.positive_runs(runs, short, FULL_RUNS), hogs)


def main(argv: list[str] | None = None) -> None:
    p = cli.parser("End-to-end rehearsal duration, detection and rollback times under faults.")
    p.add_argument("--scenario", action="append", choices=tuple(SCENARIOS),
                   help="run only this scenario (repeatable)")
    p.add_argument("--busy", type=int, default=0, metavar="K",
                   help="K CPU-bound processes beside every run (2 keeps both cores busy)")
    args = p.parse_args(argv)
    cli.emit(run(args.short, args.runs, args.scenario, args.busy), args.json, markdown)


if __name__ == "__main__":
    main()
