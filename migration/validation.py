"""The validate step's looks: both stacks compared before any public traffic moves.

With clients for both direct names, each look runs the transactions each lane still lacks
(create, wait for ready, fetch the audio) on both lanes at once, then reads both lanes'
server-side p95 since the step began from the metrics (the load balancer's, not the
operator's round trip). Without clients it probes each direct name's health path.
A look returns a verdict; a dependency that cannot be read is an `error` verdict.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from migration.analysis import Analysis
from migration.engine import EC2, FARGATE, Engine
from migration.evidence import Evidence
from migration.health import merge_windows
from migration.judge import (
    LaneWindow,
    Outcome,
    Severity,
    Verdict,
    judge_probe,
    judge_validation,
    unmeasured,
)

Look = Callable[[], Verdict]


def look_for(engine: Engine, evidence: Evidence, analysis: Analysis) -> Look:
    """Transactions where the engine has clients for the direct names, else probes."""
    if engine.direct_clients:
        return transaction_look(engine, evidence, analysis)
    return probe_look(engine, evidence)


def probe_look(engine: Engine, evidence: Evidence) -> Look:
    canary, baseline = LaneWindow(), LaneWindow()

    def probe() -> tuple[dict[str, LaneWindow], list[str]]:
        windows = engine.probe.measure() if engine.probe is not None else {}
        return windows, evidence.problems()

    def look() -> Verdict:
        nonlocal canary, baseline
        read, error = evidence.read(probe)
        if error is not None:
            return unmeasured(error)
        windows, problems = read
        canary = merge_windows(canary, windows.get(FARGATE, LaneWindow()))
        baseline = merge_windows(baseline, windows.get(EC2, LaneWindow()))
        # a stack that lost processes is not valid, whatever its probes say
        return (Verdict(Outcome.FAIL, "; ".join(problems), Severity.CRITICAL) if problems
                else judge_probe(canary, baseline, engine.judge_config))

    return look


def transaction_look(engine: Engine, evidence: Evidence, analysis: Analysis) -> Look:
    runs: dict[str, list] = {EC2: [], FARGATE: []}
    wanted = engine.judge_config.validation_transactions

    def transactions() -> None:
        # a slow queue delays both lanes alike when they run side by side
        missing = max(1, wanted - min(len(done) for done in runs.values()))
        jobs = [(lane, client) for lane, client in engine.direct_clients.items()
                for _ in range(missing)]
        with ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="validate") as pool:
            results = list(pool.map(lambda job: job[1].transaction(), jobs))
        for (lane, _client), result in zip(jobs, results, strict=True):
            runs.setdefault(lane, []).append(result)

    def latency_and_problems() -> tuple[dict[str, LaneWindow], list[str]]:
        now, metrics = engine.now(), engine.metrics
        windows = ({lane: metrics.lane(lane, analysis.started_at, now) for lane in runs}
                   if metrics else {})
        return windows, evidence.problems()

    def look() -> Verdict:
        transactions()
        read, error = evidence.read(latency_and_problems)
        if error is not None:
            return unmeasured(error)
        latency, problems = read
        if problems:
            return Verdict(Outcome.FAIL, "; ".join(problems), Severity.CRITICAL)
        return judge_validation(runs[FARGATE], runs[EC2], latency.get(FARGATE), latency.get(EC2),
                                engine.judge_config, latency_measured=engine.synthetic_in_metrics)

    return look
