"""A soak: the rehearsal's load for 10 minutes against one lane; memory stays flat, no error.

RSS of the gunicorn tree, the worker and the emulator is sampled every few seconds; the
growth from the end of warm-up to the end is reported and bounded.
"""

from __future__ import annotations

import os
import time

import pytest

from migration.rehearsal.load import LoadGenerator
from tests.verify.conftest import tree_rss

SOAK_SECONDS = int(os.environ.get("SOAK_SECONDS", "600"))
WARM_UP_SECONDS = min(60, SOAK_SECONDS // 5)
RATE = 10.0
MAX_GROWTH = 0.15
"""A process may grow 15 % after warm-up (allocator noise); a leak at this rate grows more."""


@pytest.mark.soak
@pytest.mark.timeout(SOAK_SECONDS + 300)
def test_ten_minutes_of_rehearsal_load_keep_memory_flat_and_error_free(deployment):
    lane = deployment.lane(worker=True)
    processes = {"api": lane.api.pid, "worker": lane.worker.pid,
                 "emulator": deployment.emulator.process.pid}
    load = LoadGenerator(lane.url, RATE)
    samples: list[dict[str, int]] = []
    load.start()
    started = time.monotonic()
    try:
        while time.monotonic() - started < SOAK_SECONDS:
            samples.append({name: tree_rss(pid) for name, pid in processes.items()})
            time.sleep(5)
    finally:
        load.stop()
    stats = load.stats
    warm = samples[WARM_UP_SECONDS // 5]
    end = samples[-1]
    growth = {name: (end[name] - warm[name]) / warm[name] for name in processes}
    print("soak:", stats.as_dict())
    for name in processes:
        print(f"  {name}: {warm[name] / 2**20:.1f} MiB -> {end[name] / 2**20:.1f} MiB "
              f"({growth[name]:+.1%})")
    assert stats.client_errors == 0 and stats.failed_operations == 0, stats.as_dict()
    assert stats.key_conflicts == 0 and stats.audio_bad == 0, stats.as_dict()
    assert stats.requests >= RATE * SOAK_SECONDS * 0.9
    for name in ("api", "worker"):  # the emulator stores every soundbite and its audio in
        # memory, so it grows with the data by design: reported above, not bounded
        assert growth[name] < MAX_GROWTH, f"{name} grew {growth[name]:+.1%} after warm-up"
