"""The rehearsal's report: summary JSON, raw events, and a PNG chart of the timeline."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

from migration.rehearsal.edge import PeriodSample

LANE_COLOURS = {"ec2": "#e07a1f", "fargate": "#2a7fd4"}


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
    samples = list(samples)
    with paths["samples"].open("w") as out:
        for sample in samples:
            out.write(json.dumps(asdict(sample)) + "\n")
    draw_timeline(paths["chart"], samples, summary.get("decisions", []), summary.get("started_at", 0))
    return paths


def draw_timeline(path: Path, samples: list[PeriodSample], decisions: list[dict], t0: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (weights_ax, errors_ax, latency_ax) = plt.subplots(3, 1, figsize=(10, 8), sharex=True)
    for lane, colour in LANE_COLOURS.items():
        rows = [s for s in samples if s.lane == lane]
        if not rows:
            continue
        xs = [s.at - t0 for s in rows]
        weights_ax.step(xs, [s.weight for s in rows], where="post", color=colour, label=lane)
        errors_ax.plot(xs, [100 * s.errors / s.requests if s.requests else 0 for s in rows],
                       color=colour, label=lane)
        latency_ax.plot(xs, [s.p95_ms if s.p95_ms is not None else float("nan") for s in rows],
                        color=colour, label=lane)
    actions = {"shift": "#27ae60", "rollback": "#c0392b", "held": "#8e44ad", "fault": "#d35400"}
    for event in decisions:
        x = event.get("at", t0) - t0
        if event.get("kind") == "verdict":
            if event.get("outcome") == "fail":  # failed checks: red crosses on the weight axis
                weights_ax.plot([x], [50], marker="x", color="#c0392b", markersize=6)
            continue
        colour = actions.get(event.get("kind"))
        if colour is None:
            continue
        for ax in (weights_ax, errors_ax, latency_ax):
            ax.axvline(x, color=colour, linestyle=":", linewidth=1.2)
        label = event.get("step") or event.get("fault") or event["kind"]
        weights_ax.annotate(label, (x, 106), fontsize=7, rotation=90, va="bottom", ha="center",
                            color=colour, annotation_clip=False)
    error_peak = max((100 * s.errors / s.requests for s in samples if s.requests), default=0)
    errors_ax.set_ylim(0, max(5.0, error_peak * 1.15))
    weights_ax.set_ylabel("weight (%)")
    weights_ax.set_ylim(-5, 105)
    errors_ax.set_ylabel("5xx rate (%)")
    latency_ax.set_ylabel("p95 (ms)")
    latency_ax.set_xlabel("seconds since start")
    weights_ax.legend(loc="center left")
    weights_ax.set_title("SoundBite rehearsal: weights, error rate and p95 per lane", pad=48)
    for ax in (weights_ax, errors_ax, latency_ax):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
