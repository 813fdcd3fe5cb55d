"""The latency histogram: a window's p95 from bucket counts, exact at the seed's 300 ms bound."""

import pytest

from migration.edge_metrics import LATENCY_BOUNDS_MS, bucket_counts
from migration.metrics import quantile_from_buckets


def p95_of(latencies):
    counts = bucket_counts(latencies)
    return quantile_from_buckets(LATENCY_BOUNDS_MS, [counts.get(b, 0) for b in LATENCY_BOUNDS_MS], 0.95)


def test_one_slow_request_in_forty_does_not_move_the_p95_past_300_ms():
    # Per-period p95 maxima would report 2000 ms here; the window's p95 is far below 300 ms.
    assert p95_of([40.0] * 39 + [2000.0]) <= 50


def test_p95_above_300_ms_exactly_when_more_than_5_percent_are_slower():
    assert p95_of([40.0] * 94 + [400.0] * 6) > 300
    assert p95_of([40.0] * 96 + [400.0] * 4) <= 50


def test_no_requests_has_no_p95_and_beyond_the_last_bound_reports_it():
    assert quantile_from_buckets(LATENCY_BOUNDS_MS, [0] * len(LATENCY_BOUNDS_MS), 0.95) is None
    assert p95_of([9000.0] * 10) == 5000.0


@pytest.mark.parametrize("latency", [0.5, 10.0, 299.9, 300.0, 300.1, 4999.0])
def test_each_latency_lands_in_the_first_bucket_at_or_above_it(latency):
    (bound,) = bucket_counts([latency])
    assert latency <= bound
    below = [b for b in LATENCY_BOUNDS_MS if b < bound]
    assert not below or latency > below[-1]
