"""What a person watches during a rehearsal: stage, weights, per-lane traffic, decisions."""

from __future__ import annotations

from collections import deque

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from migration.rehearsal.report import judged_windows
from migration.router import describe


class ProgressView:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.stage = "starting"
        self.step = "-"
        self.lanes: dict[str, dict] = {}
        self.decisions: deque[str] = deque(maxlen=6)
        self.settling = ""
        self.judged: dict | None = None
        """The last verdict's judged windows (per lane) and limits, as the report draws them."""
        self._live = Live(self._render(), console=console, refresh_per_second=4, transient=False)

    def __enter__(self) -> ProgressView:
        self._live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._live.__exit__(*exc)

    def update(self, stage: str, data: dict) -> None:
        if stage == "sample":
            self.lanes[data["lane"]] = data
        elif stage == "event":
            self._event(data)
        elif stage == "ready":
            self.stage = "up: practise against it; Ctrl-C to drain and finish"
            self.decisions.append(f"environment: source {data['env']}; target file {data['target']}")
        elif stage == "settling":
            self.settling = f"{data['done']}/{data['total']} settled"
        else:
            self.stage = stage
        self._live.update(self._render())

    def _event(self, event: dict) -> None:
        kind = event["kind"]
        if kind == "shift":
            self.step = event.get("step", "-")
        if kind == "verdict":
            self.judged = next(iter(judged_windows([event])), None)
        text = {
            "verdict": f"{event.get('step')}: {event.get('outcome')}: {event.get('reason')}",
            "shift": f"shift to {describe(event.get('weights') or event.get('after'))}",
            "rollback": f"ROLLBACK: {event.get('reason')}",
            "held": f"HELD: {event.get('reason')}",
            "fault": f"fault started: {event.get('fault')}",
        }.get(kind, kind)
        self.decisions.append(text)

    def _render(self) -> Group:
        table = Table(title=f"stage: {self.stage}   step: {self.step}   {self.settling}",
                      title_justify="left")
        judged = self.judged or {}
        limit_rate, limit_p95 = judged.get("error_rate_limit"), judged.get("p95_limit_ms")
        columns = ("lane", "weight", "req/s", "5xx %", "p95 ms", "judged requests",
                   "judged 5xx %" + (f" (limit {100 * limit_rate:.1f})" if limit_rate else ""),
                   "judged p95 ms" + (f" (limit {limit_p95:.0f})" if limit_p95 else ""))
        for column in columns:
            table.add_column(column, justify="right")
        for lane, data in sorted(self.lanes.items()):
            requests = data["requests"]
            errors = 100 * data["errors"] / requests if requests else 0.0
            p95 = f"{data['p95_ms']:.0f}" if data.get("p95_ms") is not None else "-"
            window = (judged.get("lanes") or {}).get(lane) or {}
            rate = "-" if window.get("error_rate") is None else f"{100 * window['error_rate']:.2f}"
            judged_p95 = "-" if window.get("p95_ms") is None else f"{window['p95_ms']:.0f}"
            table.add_row(lane, str(data["weight"]), str(requests), f"{errors:.1f}", p95,
                          str(window.get("requests", "-")), rate, judged_p95)
        return Group(table, Text("\n".join(self.decisions), style="dim"))

    def print_summary(self, summary: dict) -> None:
        table = Table(title=f"rehearsal: {summary['outcome']}")
        table.add_column("measure")
        table.add_column("value", justify="right")
        soundbites = summary["soundbites"]
        weights = summary["final_weights"]
        rows = [
            ("final weights", describe(weights)),
            ("duration (s)", summary["duration_seconds"]),
            ("requests", summary["requests"]["total"]),
            ("client-visible errors", summary["requests"]["client_errors"]),
            ("soundbites accepted / ready / failed", f"{soundbites['accepted']} / "
             f"{soundbites['ready']} / {soundbites['failed']}"),
            ("lost / duplicates", f"{soundbites['lost']} / {soundbites['duplicates']}"),
            ("detection (s)", summary["detection_seconds"]),
            ("rollback (s)", summary["rollback_seconds"]),
        ]
        for name, value in rows:
            table.add_row(name, "-" if value is None else str(value))
        shown = {"held": "[green]held[/]", "failed": "[red]BROKEN[/]", "not checked": "[dim]not checked[/]"}
        for name, check in summary["invariants"].items():
            table.add_row(name.replace("_", " "), f"{shown[check['status']]} {check['detail']}")
        self.console.print(table)
        start = summary["started_at"]
        for event in summary["decisions"]:
            at = f"+{event['at'] - start:5.1f}s"
            if event["kind"] == "shift":
                self.console.print(f"  {at} shift to {event['step']} "
                                   f"{describe(event.get('weights') or event.get('after'))}")
            elif event["kind"] in ("rollback", "held") or event.get("outcome") == "fail":
                self.console.print(f"  {at} {event['kind']}: {event.get('reason')}")
        self.console.print(f"  result: {summary['result_reason']}")
