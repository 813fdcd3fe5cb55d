"""The live view of a run, like `kubectl argo rollouts get rollout --watch`.

On a terminal: a table redrawn every second with the step, what it waits for and how long
is left, per lane the judged error rate, p95 and requests against their thresholds, and the
last verdict. On a pipe: one plain line per event. Under `--json`: one JSON object per event
(stderr, so stdout keeps the final result).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from rich.console import Console
from rich.live import Live
from rich.table import Table

FARGATE, EC2 = "fargate", "ec2"
LANES = (FARGATE, EC2)


def _rate(lane: dict) -> str:
    requests = lane.get("requests") or 0
    return f"{100 * (lane.get('errors') or 0) / requests:.2f}%" if requests else "-"


def _p95(lane: dict) -> str:
    return "-" if lane.get("p95_ms") is None else f"{lane['p95_ms']:.0f} ms"


class LiveView:
    def __init__(self, console: Console, mode: str = "auto", now: Callable[[], float] = time.time):
        self.console, self.now = console, now
        if mode == "auto":
            mode = "table" if console.is_terminal else "lines"
        self.mode = mode
        self.state: dict = {"step": None, "doing": "starting", "until": None, "lanes": {},
                            "thresholds": {}, "verdict": None, "needed": 0}
        self._live: Live | None = None

    def __enter__(self) -> LiveView:
        if self.mode == "table":
            self._live = Live(self.render(), console=self.console, refresh_per_second=1,
                              get_renderable=self.render, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)
            self._live = None

    def __call__(self, event: dict) -> None:
        self._update(event)
        if self.mode == "json":
            self.console.print_json(json.dumps(event, default=str), indent=None)
        elif self.mode == "lines":
            self.console.print(self.line(event), soft_wrap=True, highlight=False)

    def _update(self, event: dict) -> None:
        kind, state = event.get("kind"), self.state
        state["step"] = event.get("step") or state["step"]
        if kind == "wait":
            state["doing"] = f"waiting: {event.get('what')}"
            state["until"] = event.get("until")
        elif kind == "soak":
            state["doing"], state["until"] = "soaking, judging", event.get("until")
        elif kind == "verdict":
            state["verdict"] = f"{event.get('outcome')}: {event.get('reason')}"
            state["lanes"] = event.get("lanes") or state["lanes"]
            state["thresholds"] = event.get("thresholds") or state["thresholds"]
            state["needed"] = event.get("needed") or 0
        elif kind in ("promoted", "held", "rollback", "awaiting-approval", "complete"):
            state["doing"], state["until"] = kind, None

    @staticmethod
    def line(event: dict) -> str:
        kind = event.get("outcome") or event.get("kind")
        parts = [f"{kind:>12}", event.get("step") or ""]
        if event.get("kind") == "wait":
            seconds = event.get("seconds")
            parts.append(f"{event.get('what')}" + (f" {seconds:g} s" if seconds is not None else ""))
        elif event.get("kind") == "soak":
            parts.append(f"soak {event.get('seconds'):g} s")
        if event.get("reason"):
            parts.append(str(event["reason"]))
        elif event.get("weights"):
            parts.append(" / ".join(f"{k} {v}" for k, v in event["weights"].items()))
        return " ".join(p for p in parts if p)

    def render(self) -> Table:
        state = self.state
        left = "" if state["until"] is None else f"{max(0.0, state['until'] - self.now()):.0f} s left"
        limits = state["thresholds"]
        table = Table(title=f"step {state['step'] or '-'}: {state['doing']} {left}".strip(),
                      show_edge=False)
        table.add_column("lane")
        table.add_column(f"error rate (limit {100 * limits['error_rate']:.1f}%)" if limits else "error rate",
                         justify="right")
        table.add_column(f"p95 (limit {limits['p95_ms']:.0f} ms)" if limits else "p95", justify="right")
        minimum = (limits or {}).get("min_requests")
        table.add_column(f"requests (min {minimum})" if minimum else "requests", justify="right")
        for lane in LANES:
            seen = state["lanes"].get(lane) or {}
            requests = f"{seen.get('requests') or 0:.0f}"
            if lane == FARGATE and state.get("needed"):  # the judge's own "need N more"
                requests += f" (needs {state['needed']} more)"
            table.add_row(lane, _rate(seen), _p95(seen), requests)
        table.caption = f"last verdict: {state['verdict'] or 'none yet'}"
        return table
