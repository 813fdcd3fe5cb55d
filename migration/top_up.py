"""Thin traffic topped up, not waited out: synthetic transactions during a soak.

When the real requests will not give the judge its sample before the soak ends, the plan's
`synthetic: {rate, max}` lets the engine run transactions on the canary's direct name, sized
from the judge's own "need N more". They run beside the soak (a stuck transaction never
stops the looks) and are counted apart from real requests: added to the canary's sample
only where its metrics do not already count them.
"""

from __future__ import annotations

import math
from dataclasses import replace

from migration.analysis import REQUESTS_PER_TRANSACTION, Analysis, Windows, synthetic_top_up
from migration.engine import FARGATE, Engine
from migration.judge import LaneWindow, Measurements, Verdict, real_requests
from migration.synthetic import Background


class TopUp:
    """One soak's synthetic transactions on the canary."""

    def __init__(self, engine: Engine, background: Background) -> None:
        self.e = engine
        self.background = background

    @classmethod
    def for_soak(cls, engine: Engine) -> TopUp | None:
        """A top-up when the plan declares one and the canary has a client, else None."""
        top_up, client = engine.plan.synthetic, engine.direct_clients.get(FARGATE)
        if top_up is None or client is None:
            return None
        return cls(engine, Background(client, workers=math.ceil(top_up.rate), now=engine.now))

    def request(self, analysis: Analysis, verdict: Verdict, measured: Measurements) -> None:
        """Submit what the judge still needs, less what is already on its way."""
        if not verdict.needed_requests:
            return
        synthetic, plan = self.background, self.e.plan
        now, span = self.e.now(), max(measured.window_end - measured.window_start, 1e-9)
        real_rate = real_requests(measured) / span
        done = synthetic.done
        per = (sum(t.requests for _, t in done) / len(done)) if done else REQUESTS_PER_TRANSACTION
        coming = synthetic.in_flight * per
        synthetic.submit(synthetic_top_up(
            math.ceil(verdict.needed_requests - coming), real_rate,
            analysis.started_at + analysis.soak_seconds - now, plan.synthetic.rate,
            plan.analysis_interval_seconds, synthetic.submitted, plan.synthetic.max, per))

    def finished(self) -> dict | None:
        """What finished since the last call, as the ledger's `synthetic` event (None: nothing)."""
        runs = [t for _, t in self.background.collect()]
        if not runs:
            return None
        return {"transactions": len(runs), "ok": sum(t.ok for t in runs),
                "requests": sum(t.requests for t in runs),
                "errors": sum(t.server_errors for t in runs), "total": len(self.background.done)}

    def added_to(self, measured: Measurements, windows: Windows) -> Measurements:
        """The synthetic requests in the look's windows, counted apart; added to the canary's
        sample only where its metrics do not already count them."""
        done = self.background.done

        def within(start: float) -> LaneWindow:
            runs = [t for at, t in done if start <= at <= windows.end]
            return LaneWindow(sum(t.requests for t in runs), sum(t.server_errors for t in runs))

        total = within(windows.start)
        if not total.requests:
            return measured
        if self.e.synthetic_in_metrics:
            return replace(measured, synthetic_canary=total)
        recent = measured.recent_canary
        if recent is not None:
            recent = _plus(recent, within(windows.recent_start))
        return replace(measured, canary=_plus(measured.canary, total), recent_canary=recent,
                       synthetic_canary=total)

    def close(self) -> None:
        self.background.close()


def _plus(window: LaneWindow, extra: LaneWindow) -> LaneWindow:
    """A lane's window with more requests and errors; its latency (p95, samples and the
    number of requests they came from) stays the metrics' own."""
    return replace(window, requests=window.requests + extra.requests,
                   errors=window.errors + extra.errors, timed_requests=window.timed)
