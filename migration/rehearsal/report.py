"""The rehearsal's report: what the judge saw, as JSON and as one PNG chart.

The chart draws, per lane, the windowed error rate and p95 the judge evaluated (from each
verdict's evidence in the ledger) against their threshold lines, the requests in each judged
window and the canary's observed share against the intended one; the live weights with a
marker per verdict; the fault's start, validate and the rollback; outcome and faults on top.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

from migration.rehearsal.edge import PeriodSample

LANE_COLOURS = {"ec2": "#e07a1f", "fargate": "#2a7fd4"}
VERDICT_STYLE = {"pass": ("o", "#27ae60"), "fail": ("X", "#c0392b"),
                 "inconclusive": ("s", "#f1c40f"), "error": ("D", "#7f8c8d")}
ROLES = {"canary": "fargate", "baseline": "ec2"}


def judged_windows(events: Iterable[dict]) -> list[dict]:
    """Each verdict of a soak with the windows it judged: per lane requests, errors, p95."""
    rows = []
    for event in events:
        if event.get("kind") != "verdict":
            continue
        verdict = event.get("verdict") or {}
        evidence = verdict.get("evidence") or {}
        measured = evidence.get("measurements") or {}
        thresholds = evidence.get("thresholds") or {}
        row = {"at": event["at"], "step": event.get("step"), "outcome": verdict.get("outcome"),
               "reason": verdict.get("reason"),
               "error_rate_limit": thresholds.get("error_rate_limit"),
               "p95_limit_ms": thresholds.get("p95_limit_ms"),
               "intended_share": measured.get("intended_share"), "lanes": {}}
        for role, lane in ROLES.items():
            window = measured.get(role) or evidence.get(role)
            if window:
                requests = window.get("requests") or 0
                row["lanes"][lane] = {"requests": requests, "errors": window.get("errors") or 0,
                                      "error_rate": (window.get("errors") or 0) / requests if requests else None,
                                      "p95_ms": window.get("p95_ms")}
        total = sum(w["requests"] for w in row["lanes"].values())
        row["observed_share"] = (row["lanes"].get("fargate", {}).get("requests", 0) / total
                                 if total and measured else None)
        rows.append(row)
    return rows


def write_report(directory: Path, summary: dict, samples: Iterable[PeriodSample],
                 events: Iterable[dict]) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = {
        "report": directory / "report.json",
        "events": directory / "events.jsonl",
        "samples": directory / "samples.jsonl",
        "chart": directory / "timeline.png",
    }
    paths["report"].write_text(json.dumps(summary, indent=2, default=str) + "\n")
    with paths["events"].open("w") as out:
        for event in events:
            out.write(json.dumps(event, default=str) + "\n")
    with paths["samples"].open("w") as out:
        for sample in samples:
            out.write(json.dumps(asdict(sample)) + "\n")
    draw_timeline(paths["chart"], summary)
    return paths


def _title(summary: dict) -> str:
    faults = ", ".join(summary.get("faults") or []) or "no fault"
    weights = summary.get("final_weights") or {}
    broken = [n for n, c in (summary.get("invariants") or {}).items() if c.get("status") == "failed"]
    held = "all invariants held" if not broken else f"BROKEN: {', '.join(broken)}"
    return (f"SoundBite rehearsal ({summary.get('plan')}): {summary.get('outcome')} with {faults}\n"
            f"final weights ec2 {weights.get('ec2')} / fargate {weights.get('fargate')}; {held}")


def draw_timeline(path: Path, summary: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    t0 = summary.get("started_at", 0)
    judged = summary.get("judged") or []
    fig, axes = plt.subplots(4, 1, figsize=(11, 10), sharex=True,
                             gridspec_kw={"height_ratios": [1.2, 1, 1, 1]})
    weights_ax, errors_ax, latency_ax, requests_ax = axes
    _weights(weights_ax, summary, judged, t0)
    _judged(errors_ax, latency_ax, requests_ax, judged, t0)
    _markers(axes, summary, t0)
    legend = [Line2D([], [], marker=m, color=c, linestyle="", label=f"verdict: {o}")
              for o, (m, c) in VERDICT_STYLE.items()]
    legend += [Line2D([], [], color=c, label=lane) for lane, c in LANE_COLOURS.items()]
    legend += [Line2D([], [], color="#d35400", linestyle="--", label="fault starts"),
               Line2D([], [], color="#16a085", linestyle="--", label="validate"),
               Line2D([], [], color="#c0392b", linestyle="-", label="rollback")]
    weights_ax.legend(handles=legend, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    errors_ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    latency_ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    requests_ax.legend(loc="upper left", bbox_to_anchor=(1.06, 1), fontsize=8)
    requests_ax.set_xlabel("seconds since the rehearsal started")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.suptitle(_title(summary), fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _weights(ax, summary: dict, judged: list[dict], t0: float) -> None:
    log = summary.get("weights") or []
    if log:
        xs = [w["at"] - t0 for w in log] + [summary.get("duration_seconds", 0)]
        fargate = [w["fargate"] for w in log] + [log[-1]["fargate"]]
        ax.step(xs, fargate, where="post", color=LANE_COLOURS["fargate"])
        ax.step(xs, [100 - f for f in fargate], where="post", color=LANE_COLOURS["ec2"])
    for outcome, (marker, colour) in VERDICT_STYLE.items():
        rows = [r for r in judged if r["outcome"] == outcome]
        ax.scatter([r["at"] - t0 for r in rows], [103] * len(rows), marker=marker, color=colour,
                   s=28, zorder=3, clip_on=False)
    ax.set_ylabel("live weight (%)\nverdicts on top")
    ax.set_ylim(-5, 108)


def _judged(errors_ax, latency_ax, requests_ax, judged: list[dict], t0: float) -> None:
    for lane, colour in LANE_COLOURS.items():
        rows = [r for r in judged if lane in r["lanes"]]
        xs = [r["at"] - t0 for r in rows]
        errors_ax.plot(xs, [100 * r["lanes"][lane]["error_rate"] if r["lanes"][lane]["error_rate"] is not None
                            else float("nan") for r in rows], color=colour, marker=".", label=f"{lane} judged")
        latency_ax.plot(xs, [r["lanes"][lane]["p95_ms"] if r["lanes"][lane]["p95_ms"] is not None
                             else float("nan") for r in rows], color=colour, marker=".", label=f"{lane} judged")
        offset = -0.3 if lane == "ec2" else 0.3
        requests_ax.bar([x + offset for x in xs], [r["lanes"][lane]["requests"] for r in rows], width=0.6,
                        color=colour, alpha=0.6, label=f"{lane} requests in window")
    limits = [r for r in judged if r.get("error_rate_limit") is not None]
    if limits:
        errors_ax.axhline(100 * limits[-1]["error_rate_limit"], color="#c0392b", linestyle="--",
                          label=f"limit {100 * limits[-1]['error_rate_limit']:g}%")
        latency_ax.axhline(limits[-1]["p95_limit_ms"], color="#c0392b", linestyle="--",
                           label=f"limit {limits[-1]['p95_limit_ms']:g} ms")
    share = requests_ax.twinx()
    shared = [r for r in judged if r.get("observed_share") is not None]
    share.plot([r["at"] - t0 for r in shared], [100 * r["observed_share"] for r in shared], color="#2c3e50",
               marker="x", linestyle="", label="observed Fargate share")
    share.plot([r["at"] - t0 for r in shared], [100 * (r["intended_share"] or 0) for r in shared],
               color="#2c3e50", linestyle=":", label="intended share")
    share.set_ylabel("Fargate share (%)")
    share.set_ylim(0, 105)
    share.legend(loc="upper left", fontsize=8)
    errors_ax.set_ylabel("judged 5xx rate (%)\n(window)")
    latency_ax.set_ylabel("judged p95 (ms)\n(window)")
    requests_ax.set_ylabel("requests judged\n(window)")
    peak = max((100 * w["error_rate"] for r in judged for w in r["lanes"].values() if w["error_rate"]), default=0)
    errors_ax.set_ylim(0, max(2.0, peak * 1.15))


def _markers(axes, summary: dict, t0: float) -> None:
    styles = {"fault": ("#d35400", "--"), "validate": ("#16a085", "--"), "rollback": ("#c0392b", "-")}
    for event in summary.get("decisions") or []:
        style = styles.get(event.get("kind"))
        if style is None:
            continue
        x = event["at"] - t0
        for ax in axes:
            ax.axvline(x, color=style[0], linestyle=style[1], linewidth=1.2)
        label = event.get("fault") or event.get("kind")
        axes[0].annotate(label, (x, 50), fontsize=8, rotation=90, va="center", ha="right",
                         color=style[0])
    for event in summary.get("decisions") or []:
        if event.get("kind") == "shift":
            axes[0].annotate(event.get("step"), (event["at"] - t0, 5), fontsize=7, rotation=90,
                             va="bottom", ha="right", color="#7f8c8d")
