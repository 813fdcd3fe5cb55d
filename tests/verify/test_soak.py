"""A soak: the rehearsal's load for 10 minutes against one lane; memory stays flat, no error.

RSS of each gunicorn worker, of the worker (with its synthesis processes) and of the emulator
is sampled every few seconds; the growth from the end of warm-up to the end (each the median
of three samples, so one sample caught mid-collection does not decide) is reported and bounded.
"""

from __future__ import annotations

import os
import statistics
import time

import psutil
import pytest

from migration.rehearsal.load import LoadGenerator
from tests.verify.conftest import tree_rss

SOAK_SECONDS = int(os.environ.get("SOAK_SECONDS", "600"))
WARM_UP_SECONDS = min(60, SOAK_SECONDS // 5)
RATE = 10.0
SAMPLE_SECONDS = 5
MAX_GROWTH = 0.02
"""Each gunicorn worker and the worker may grow 2 % after warm-up; a leak grows more."""


@pytest.mark.soak
@pytest.mark.timeout(SOAK_SECONDS + 300)
def test_ten_minutes_of_rehearsal_load_keep_memory_flat_and_error_free(deployment):
    lane = deployment.lane(worker=True)
    gunicorn_workers = psutil.Process(lane.api.pid).children()
    processes = {**{f"gunicorn worker {n + 1}": w.pid for n, w in enumerate(gunicorn_workers)},
                 "worker": lane.worker.pid, "emulator": deployment.emulator.process.pid}
    load = LoadGenerator(lane.url, RATE, token=deployment.token())
    samples: list[dict[str, int]] = []
    load.start()
    started = time.monotonic()
    try:
        while time.monotonic() - started < SOAK_SECONDS:
            samples.append({name: tree_rss(pid) for name, pid in processes.items()})
            time.sleep(SAMPLE_SECONDS)
    finally:
        load.stop()
    stats = load.stats
    first = WARM_UP_SECONDS // SAMPLE_SECONDS

    def rss(name: str, window: list[dict]) -> float:
        return statistics.median(sample[name] for sample in window)

    warm = {name: rss(name, samples[first:first + 3]) for name in processes}
    end = {name: rss(name, samples[-3:]) for name in processes}
    growth = {name: (end[name] - warm[name]) / warm[name] for name in processes}
    print("soak:", stats.as_dict())
    for name in processes:
        print(f"  {name}: {warm[name] / 2**20:.1f} MiB -> {end[name] / 2**20:.1f} MiB "
              f"({growth[name]:+.1%})")
    assert [w.pid for w in psutil.Process(lane.api.pid).children()] == \
        [w.pid for w in gunicorn_workers], "a gunicorn worker was replaced during the soak"
    assert stats.client_errors == 0 and stats.failed_operations == 0, stats.as_dict()
    assert stats.key_conflicts == 0 and stats.audio_bad == 0, stats.as_dict()
    assert stats.requests >= RATE * SOAK_SECONDS * 0.9
    for name in processes:
        if name == "emulator":  # it stores every soundbite and its audio in memory, so it
            continue  # grows with the data by design: reported above, not bounded
        assert growth[name] <= MAX_GROWTH, f"{name} grew {growth[name]:+.1%} after warm-up"
