"""Medians, percentiles and ratios, the few statistics every benchmark reports."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence


def median(values: Iterable[float | None]) -> float | None:
    """Median of the values that exist; None when none do."""
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def percentile(sorted_values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile of already sorted values (fraction in 0..1)."""
    if not sorted_values:
        return None
    rank = max(1, round(fraction * len(sorted_values) + 0.5 - 1e-9))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def latency_summary(seconds: Iterable[float]) -> dict:
    """p50/p95/p99 and mean, in milliseconds."""
    values = sorted(s * 1000 for s in seconds)
    if not values:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None, "mean_ms": None}
    return {
        "p50_ms": round(percentile(values, 0.50), 2),
        "p95_ms": round(percentile(values, 0.95), 2),
        "p99_ms": round(percentile(values, 0.99), 2),
        "mean_ms": round(sum(values) / len(values), 2),
    }


def ratio(part: float | None, whole: float | None) -> float | None:
    if part is None or not whole:
        return None
    return round(part / whole, 3)


def median_of_runs(runs: list[dict], keys: Iterable[str]) -> dict:
    """Per key, the median across runs (each run a flat dict of numbers)."""
    return {key: _rounded(median(run.get(key) for run in runs)) for key in keys}


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
