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
from migration.analysis import Action
from migration.judge import Outcome, requests_needed
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
    traffic = simulate.Traffic(fault, rng, seconds=until)  # past `until` the lanes serve nothing
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


POWER_CASES = ((0.001, 0.011), (0.005, 0.015), (0.0, 0.01))
"""The seed's one-point regressions: baseline error rate -> canary error rate."""
POWER_RUNS, LATE_RUNS, NOISY_RUNS = 1000, 1000, 1000
SHORT_RUNS = 50
LATE_WEIGHTS = (5, 25)
LATE_FAULT_SECONDS = 120
NOISY = simulate.Fault(canary_error_rate=0.008, canary_percent=5, requests_per_second=100,
                       baseline_error_rate=0.008, latency_jitter=0.1, clumping=0.1)
"""Healthy but noisy: both lanes at 0.8 % errors, latency levels jittering per minute, and the
canary's share moving with DNS clumps."""


def power(base: float, worse: float, plan: Plan, runs: int, seed: int) -> dict:
    """How often the judge fails a canary `worse` than a `base` baseline by the time it has the
    requests it asked for (`requests_needed`, re-read at every look)."""
    cfg, rng = plan.judge, np.random.default_rng(seed)
    fault = simulate.Fault(canary_error_rate=worse, canary_percent=5, requests_per_second=100,
                           baseline_error_rate=base)
    caught, asked = [], []

    def done(m, verdict) -> bool:
        if verdict.outcome is Outcome.FAIL:
            caught.append(True)
            return True
        if m.canary.requests >= requests_needed(m.baseline, cfg):
            asked.append(requests_needed(m.baseline, cfg))
            return True
        return False

    traffics = [simulate.Traffic(fault, rng, seconds=horizon(plan) * 3) for _ in range(runs)]
    for traffic in traffics:
        simulate.run_step(traffic, fault, plan, soak_seconds=10 ** 6, stop_when=done)
    requested = int(np.median(asked)) if asked else None
    # The rule the engine acts on, on the same traffic: a step whose soak ends as the canary
    # reaches the requested n, promoted only on a passing look (a fail then a pass promotes;
    # a fail at the soak's end rolls back): caught = not promoted.
    soak = (requested or 0) / (fault.requests_per_second * fault.canary_percent / 100)
    promoted = sum(simulate.run_step(traffic, fault, plan, soak_seconds=soak).action is Action.PROMOTE
                   for traffic in traffics)
    return {"baseline": base, "canary": worse, "runs": runs, "power": round(len(caught) / runs, 3),
            "caught_before_promotion": round(1 - promoted / runs, 3), "requested_n": requested}


def late_fault(percent: int, plan: Plan, runs: int, seed: int, after_lag: bool = False) -> dict:
    """5 % errors from 2 minutes before the soak ends: caught (not promoted) in how many runs.

    The soak judges traffic up to the TTL wait plus the soak (metrics lag behind the clock);
    `after_lag` starts the fault 2 minutes before the promotion decision on the clock instead,
    so the judge sees only 2 minutes less the metric lag of it."""
    soak = plan.shift_steps[0].soak_seconds
    start = plan.ttl_wait_seconds + soak - LATE_FAULT_SECONDS
    if after_lag:
        start += plan.metric_lag_seconds
    fault = simulate.Fault(canary_error_rate=0.05, canary_percent=percent, requests_per_second=100,
                           baseline_error_rate=0.001, starts_at=start)
    rng, outcomes = np.random.default_rng(seed), {}
    for _ in range(runs):
        run = simulate.run_step(simulate.Traffic(fault, rng, seconds=horizon(plan)), fault, plan)
        key = run.action.value if run.action else "undecided"
        outcomes[key] = outcomes.get(key, 0) + 1
    return {"weight_percent": percent, "fault_from_second": start, "runs": runs,
            "caught": round(1 - outcomes.get("promote", 0) / runs, 4), "outcomes": outcomes}


def noisy_healthy(plan: Plan, runs: int, seed: int) -> dict:
    """Healthy, noisy steps run to their decision: false rollbacks, and holds on latency."""
    rng, rollbacks, latency_holds, other, promoted = np.random.default_rng(seed), 0, 0, 0, 0
    for _ in range(runs):
        run = simulate.run_step(simulate.Traffic(NOISY, rng, seconds=horizon(plan)), NOISY, plan)
        if run.action is None or run.action.value == "promote":
            promoted += run.action is not None
        elif run.action.value == "rollback":
            rollbacks += 1
        elif "p95" in run.reason:
            latency_holds += 1
        else:
            other += 1
    return {"runs": runs, "promoted": promoted, "false_rollbacks": rollbacks,
            "latency_holds": latency_holds, "other_holds": other}


def first_detection(plan: Plan, runs: int, seed: int) -> dict:
    """5 % errors at 5 % weight, 100 req/s: analysis intervals after the metric lag until the
    first failed look (detection) and until the rollback (the plan's failure limit in a row)."""
    fault, rng = TARGET_FAULT, np.random.default_rng(seed)
    first, rolled = [], []
    wait = plan.ttl_wait_seconds + plan.metric_lag_seconds
    for _ in range(runs):
        traffic = simulate.Traffic(fault, rng, seconds=horizon(plan))
        seen = simulate.run_step(traffic, fault, plan, soak_seconds=10 ** 6,
                                 stop_when=lambda _m, v: v.outcome is Outcome.FAIL)
        first.append((seen.at - wait) / plan.analysis_interval_seconds)
        run = simulate.run_step(traffic, fault, plan, soak_seconds=10 ** 6)
        rolled.append((run.at - wait) / plan.analysis_interval_seconds)
    return {"runs": runs, "first_fail_intervals_median": float(np.median(first)),
            "first_fail_within_one": round(float(np.mean(np.array(first) <= 1)), 3),
            "rollback_intervals_median": float(np.median(rolled))}


def measure(trials: int, short: bool, seed: int = 1) -> dict:
    plan = default_plan()
    result = {"benchmark": "judge", "machine": machine.describe(), "settings": {
        "trials_per_cell": trials, "horizon_seconds": horizon(plan), "plan": plan.name,
        "analysis_interval_seconds": plan.analysis_interval_seconds,
        "ttl_wait_seconds": plan.ttl_wait_seconds, "metric_lag_seconds": plan.metric_lag_seconds,
        "failure_limit": plan.failure_limit, "baseline_error_rate": simulate.Fault.baseline_error_rate,
        "significance": plan.judge.significance, "power": plan.judge.power,
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

    def runs(full: int) -> int:
        return SHORT_RUNS if short else full

    started = time.process_time()
    with cli.progress() as bar:
        task = bar.add_task("judge", total=len(cells) + len(healthy) + 8)
        rows = []
        for e, w, r in cells:
            bar.update(task, description=f"judge: {e:.0%} errors at {w} % of {r} req/s")
            row = detection(simulate.Fault(e, w, r), plan, trials, seed)
            rows.append({"error_rate": e, "weight_percent": w, "requests_per_second": r, **row})
            bar.advance(task)
        quiet = []
        for w, r, n in healthy:
            bar.update(task, description=f"judge: {n} healthy runs at {w} % of {r} req/s")
            quiet.append({"weight_percent": w, "requests_per_second": r,
                          **false_rollbacks(w, r, plan, n, seed)})
            bar.advance(task)
        powers = []
        for base, worse in POWER_CASES:
            bar.update(task, description=f"judge: power {base:.1%} -> {worse:.1%}")
            powers.append(power(base, worse, plan, runs(POWER_RUNS), seed))
            bar.advance(task)
        late = []
        for w in LATE_WEIGHTS:
            for after_lag in (False, True):
                bar.update(task, description=f"judge: late fault at {w} %")
                late.append({**late_fault(w, plan, runs(LATE_RUNS), seed, after_lag),
                             "after_lag": after_lag})
                bar.advance(task)
        bar.update(task, description="judge: healthy noisy runs")
        noisy = noisy_healthy(plan, runs(NOISY_RUNS), seed)
        bar.advance(task)
        first = first_detection(plan, runs(POWER_RUNS) // 5 or 1, seed)
        bar.advance(task)
    result.update(detection=rows, false_rollbacks=quiet, power=powers, late_fault=late,
                  noisy_healthy=noisy, first_detection=first)
    result["cpu_seconds"] = round(time.process_time() - started, 1)
    result["targets"] = _targets(result, plan)
    return result


def _targets(result: dict, plan: Plan) -> list[dict]:
    cell = next(r for r in result["detection"] if (r["error_rate"], r["weight_percent"],
                                                   r["requests_per_second"])
                == (TARGET_FAULT.canary_error_rate, TARGET_FAULT.canary_percent,
                    TARGET_FAULT.requests_per_second))
    engine, anchors = cell["soundbite"], [cell["flagger"], cell["codedeploy"]]
    noisy, first = result["noisy_healthy"], result["first_detection"]
    rows = [{"target": f"power at the judge's requested n ({p['requested_n']}), "
                       f"{p['baseline']:.1%} -> {p['canary']:.1%}",
             "value": p["power"], "limit": 0.8, "met": p["power"] >= 0.8} for p in result["power"]]
    rows += [{"target": f"... the step (its soak ending at that n) not promoted, "
                        f"{p['baseline']:.1%} -> {p['canary']:.1%}",
              "value": p["caught_before_promotion"], "limit": 0.8,
              "met": p["caught_before_promotion"] >= 0.8} for p in result["power"]]
    rows += [{"target": f"late fault (5 % errors, last 2 min{' on the clock' if r['after_lag'] else ''}"
                        f") at {r['weight_percent']} % weight: caught before promotion",
              "value": r["caught"], "limit": 0.99, "met": r["caught"] >= 0.99}
             for r in result["late_fault"]]
    rows += [
        {"target": f"false rollbacks in {noisy['runs']} healthy noisy runs",
         "value": noisy["false_rollbacks"], "limit": 0, "met": noisy["false_rollbacks"] == 0},
        {"target": "false holds on latency (share of healthy noisy runs)",
         "value": round(noisy["latency_holds"] / noisy["runs"], 4), "limit": 0.01,
         "met": noisy["latency_holds"] / noisy["runs"] <= 0.01},
        {"target": "5 % errors at 5 % weight: first failed look, intervals after the metric lag (median)",
         "value": first["first_fail_intervals_median"], "limit": 1,
         "met": first["first_fail_intervals_median"] <= 1},
        {"target": "... share of runs whose first failed look is within one interval",
         "value": first["first_fail_within_one"], "limit": None, "met": None},
        {"target": "... rolled back sooner than Flagger's and CodeDeploy's defaults (s)",
         "value": engine, "limit": min((a for a in anchors if a is not None), default=None),
         "met": engine is not None and all(a is None or engine < a for a in anchors)},
        {"target": f"no false rollback in {result['false_rollbacks'][0]['runs']} healthy runs "
                   "(5 % weight, 100 req/s)",
         "value": result["false_rollbacks"][0]["soundbite"], "limit": 0,
         "met": result["false_rollbacks"][0]["soundbite"] == 0},
    ]
    return rows


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
        met = "-" if row["met"] is None else ("yes" if row["met"] else "NO")
        lines.append(f"| {row['target']} | {value} | {limit} | {met} |")
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
