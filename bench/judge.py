"""Judge benchmark: time to roll back a faulty canary, and false rollbacks of healthy ones.

Built on `migration.simulate` (binomially sampled traffic on a fake clock, the real `judge`,
Flagger's and CodeDeploy's documented default rules); nothing sleeps. Every detector sees the
same traffic for at most one step's longest exposure: the DNS TTL wait, the metric lag, the
soak and its largest extension (the `horizon` of `simulate.engine_detection`).

    python -m bench.judge [--json] [--short] [--runs N]
"""

from __future__ import annotations

import time

import numpy as np

from bench import cli, machine
from migration import simulate
from migration.plan import Plan, default_plan

ERROR_RATES = (0.01, 0.05, 0.20)
WEIGHTS = (5, 25)
TRAFFIC = (10, 100, 1000)
FULL_TRIALS, SHORT_TRIALS = 10, 3
TARGET_FAULT = simulate.Fault(canary_error_rate=0.05, canary_percent=5, requests_per_second=100)
TARGET_INTERVALS = 2
HEALTHY_RUNS_TARGET = 1000
HEALTHY_RUNS_OTHER = {10: 200, 100: 100, 1000: 10}
"""Fewer healthy runs where the judge's exact tests are slow (see the report's profile)."""
SHORT_HEALTHY_RUNS = 20


def horizon(plan: Plan) -> int:
    """One shift step's longest exposure: TTL wait, metric lag, soak and its largest extension."""
    step = plan.shift_steps[0]
    return int(plan.step_seconds(step) + plan.max_soak_extension_seconds)


def _detectors(fault: simulate.Fault, plan: Plan, rng, until: int) -> dict[str, float | None]:
    traffic = simulate._Traffic(fault, rng, seconds=until)  # past `until` the lanes serve nothing
    return {"soundbite": simulate.engine_detection(traffic, fault, plan, horizon=until),
            "flagger": simulate.flagger_detection(traffic),
            "codedeploy": simulate.codedeploy_detection(traffic)}


def detection(fault: simulate.Fault, plan: Plan, trials: int, seed: int) -> dict:
    """Median seconds from exposure to rollback per detector (None: not within the step)."""
    rng, until = np.random.default_rng(seed), horizon(plan)
    found: dict[str, list[float]] = {"soundbite": [], "flagger": [], "codedeploy": []}
    for _ in range(trials):
        for name, value in _detectors(fault, plan, rng, until).items():
            found[name].append(float("inf") if value is None else value)
    medians = {name: float(np.median(v)) for name, v in found.items()}
    row = {name: (None if m == float("inf") else m) for name, m in medians.items()}
    row["detected_share"] = round(sum(v != float("inf") for v in found["soundbite"]) / trials, 3)
    engine = row["soundbite"]
    row["soundbite_intervals"] = None if engine is None else round(
        (engine - plan.ttl_wait_seconds - plan.metric_lag_seconds) / plan.analysis_interval_seconds, 1)
    return row


def false_rollbacks(percent: int, rps: int, plan: Plan, runs: int, seed: int) -> dict:
    """How many of `runs` healthy canaries (same error rate as the baseline) each detector rolled back."""
    healthy = simulate.Fault(canary_error_rate=simulate.Fault.baseline_error_rate,
                             canary_percent=percent, requests_per_second=rps)
    rng, until = np.random.default_rng(seed), horizon(plan)
    counts = {"soundbite": 0, "flagger": 0, "codedeploy": 0}
    for _ in range(runs):
        for name, value in _detectors(healthy, plan, rng, until).items():
            counts[name] += value is not None
    return {"runs": runs, **counts}


def measure(trials: int, short: bool, seed: int = 1) -> dict:
    plan = default_plan()
    result = {"benchmark": "judge", "machine": machine.describe(), "settings": {
        "trials_per_cell": trials, "horizon_seconds": horizon(plan), "plan": plan.name,
        "analysis_interval_seconds": plan.analysis_interval_seconds,
        "ttl_wait_seconds": plan.ttl_wait_seconds, "metric_lag_seconds": plan.metric_lag_seconds,
        "failure_limit": plan.failure_limit, "baseline_error_rate": simulate.Fault.baseline_error_rate,
        "flagger": {"interval_seconds": simulate.FLAGGER_INTERVAL_SECONDS,
                    "threshold": simulate.FLAGGER_THRESHOLD,
                    "min_success_rate": simulate.FLAGGER_MIN_SUCCESS_RATE},
        "codedeploy": {"period_seconds": simulate.CODEDEPLOY_PERIOD_SECONDS,
                       "evaluation_periods": simulate.CODEDEPLOY_EVALUATION_PERIODS}}}
    cells = [(TARGET_FAULT.canary_error_rate, TARGET_FAULT.canary_percent, TARGET_FAULT.requests_per_second)]
    if not short:
        cells = [(e, w, r) for e in ERROR_RATES for w in WEIGHTS for r in TRAFFIC]
    healthy = [(TARGET_FAULT.canary_percent, int(TARGET_FAULT.requests_per_second),
                SHORT_HEALTHY_RUNS if short else HEALTHY_RUNS_TARGET)]
    if not short:
        healthy += [(w, r, HEALTHY_RUNS_OTHER[r]) for w in WEIGHTS for r in TRAFFIC
                    if (w, r) != (healthy[0][0], healthy[0][1])]
    started = time.process_time()
    with cli.progress() as bar:
        task = bar.add_task("judge", total=len(cells) + len(healthy))
        rows = []
        for e, w, r in cells:
            bar.update(task, description=f"judge: {e:.0%} errors at {w} % of {r} req/s")
            row = detection(simulate.Fault(e, w, r), plan, trials, seed)
            rows.append({"error_rate": e, "weight_percent": w, "requests_per_second": r, **row})
            bar.advance(task)
        quiet = []
        for w, r, runs in healthy:
            bar.update(task, description=f"judge: {runs} healthy runs at {w} % of {r} req/s")
            quiet.append({"weight_percent": w, "requests_per_second": r,
                          **false_rollbacks(w, r, plan, runs, seed)})
            bar.advance(task)
    result["detection"] = rows
    result["false_rollbacks"] = quiet
    result["cpu_seconds"] = round(time.process_time() - started, 1)
    result["targets"] = _targets(rows, quiet, plan)
    return result


def _targets(rows: list[dict], quiet: list[dict], plan: Plan) -> list[dict]:
    t = TARGET_FAULT
    cell = next(r for r in rows if (r["error_rate"], r["weight_percent"], r["requests_per_second"])
                == (t.canary_error_rate, t.canary_percent, t.requests_per_second))
    engine, anchors = cell["soundbite"], [cell["flagger"], cell["codedeploy"]]
    faster = engine is not None and all(a is None or engine < a for a in anchors)
    target_quiet = quiet[0]
    return [
        {"target": "5 % errors at 5 % weight, 100 req/s: rolled back within 2 analysis intervals",
         "value": cell["soundbite_intervals"], "limit": TARGET_INTERVALS,
         "met": cell["soundbite_intervals"] is not None and cell["soundbite_intervals"] <= TARGET_INTERVALS},
        {"target": "... and sooner than Flagger's and CodeDeploy's defaults",
         "value": engine, "limit": min((a for a in anchors if a is not None), default=None),
         "met": faster},
        {"target": f"no false rollback in {target_quiet['runs']} healthy runs (5 % weight, 100 req/s)",
         "value": target_quiet["soundbite"], "limit": 0, "met": target_quiet["soundbite"] == 0},
    ]


def _s(value) -> str:
    return "never" if value is None else f"{value:.0f}"


def markdown(result: dict) -> str:
    s = result["settings"]
    lines = [f"Judge, simulated on a fake clock: median seconds from the canary taking traffic to the "
             f"rollback decision over {s['trials_per_cell']} trials per cell, within one step's "
             f"{s['horizon_seconds']} s. SoundBite: `default` plan ({s['ttl_wait_seconds']:.0f} s TTL wait, "
             f"{s['metric_lag_seconds']:.0f} s metric lag, {s['analysis_interval_seconds']:.0f} s "
             f"intervals, {s['failure_limit']} failed checks); Flagger: {s['flagger']['interval_seconds']} s "
             f"interval, threshold {s['flagger']['threshold']}, success rate >= "
             f"{s['flagger']['min_success_rate']:.0%}; CodeDeploy: alarm on 5xx rate, "
             f"{s['codedeploy']['evaluation_periods']} x {s['codedeploy']['period_seconds']} s periods. "
             f"Baseline error rate {s['baseline_error_rate']:.1%}.", "",
             "| canary errors | weight | req/s | SoundBite s | (intervals) | Flagger s | CodeDeploy s |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in result["detection"]:
        intervals = "-" if r["soundbite_intervals"] is None else f"{r['soundbite_intervals']:g}"
        lines.append(f"| {r['error_rate']:.0%} | {r['weight_percent']} % | {r['requests_per_second']} | "
                     f"{_s(r['soundbite'])} | {intervals} | {_s(r['flagger'])} | {_s(r['codedeploy'])} |")
    lines += ["", "False rollbacks of healthy canaries (error rate equal to the baseline's):", "",
              "| weight | req/s | runs | SoundBite | Flagger | CodeDeploy |", "|---:|---:|---:|---:|---:|---:|"]
    for q in result["false_rollbacks"]:
        lines.append(f"| {q['weight_percent']} % | {q['requests_per_second']} | {q['runs']} | "
                     f"{q['soundbite']} | {q['flagger']} | {q['codedeploy']} |")
    lines += ["", "| target | measured | limit | met |", "|---|---:|---:|---|"]
    for row in result["targets"]:
        value = "-" if row["value"] is None else f"{row['value']:g}"
        limit = "-" if row["limit"] is None else f"{row['limit']:g}"
        lines.append(f"| {row['target']} | {value} | {limit} | {'yes' if row['met'] else 'NO'} |")
    return "\n".join(lines)


def run(short: bool = False, runs: int | None = None, trials: int | None = None) -> dict:
    """The simulation with its full (or short) settings; `runs` is accepted for symmetry only:
    a simulation with a fixed seed gives the same numbers every time."""
    return measure(trials or (SHORT_TRIALS if short else FULL_TRIALS), short)


def main(argv: list[str] | None = None) -> None:
    p = cli.parser("Simulated time to roll back, against Flagger's and CodeDeploy's defaults.")
    p.add_argument("--trials", type=int, help="simulated faults per cell")
    args = p.parse_args(argv)
    cli.emit(run(args.short, args.runs, args.trials), args.json, markdown)


if __name__ == "__main__":
    main()
