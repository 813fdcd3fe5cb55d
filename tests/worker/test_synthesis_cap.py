"""The seed's synthesis cap: at most spec.MAX_CONCURRENT_SYNTHESES at once across every worker
sharing one Redis (both stacks' workers do), with leases that lapse when a worker dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pytest

from soundbite import spec
from soundbite.core.domain import Status
from tests.worker.conftest import LONG_TEXT, wait_for
from worker.exceptions import SynthesisCapUnavailable
from worker.synthesis_cap import RedisSynthesisCap

CAP = spec.MAX_CONCURRENT_SYNTHESES


@pytest.fixture
def cap(throwaway_redis, settings):
    def build(**options) -> RedisSynthesisCap:
        return RedisSynthesisCap(throwaway_redis.client(), settings.environment, **options)

    return build


def test_the_cap_is_the_seeds_ten():
    assert CAP == spec.LAMBDA_CONCURRENCY == 10


def test_the_eleventh_waits_until_one_of_ten_is_given_back(cap):
    holders = [cap() for _ in range(CAP)]  # ten workers' caps, one shared Redis
    tokens = [h.acquire() for h in holders]
    waiting = threading.Event()
    eleventh = cap(on_wait=waiting.set)
    got: list[str] = []
    thread = threading.Thread(target=lambda: got.append(eleventh.acquire()), daemon=True)
    thread.start()

    assert waiting.wait(10), "the eleventh never had to wait"
    assert not got and eleventh.in_use() == CAP
    holders[3].release(tokens[3])
    thread.join(10)

    assert got and eleventh.in_use() == CAP
    eleventh.release(got[0])
    for holder, token in zip(holders, tokens, strict=True):
        holder.release(token)


def test_a_dead_workers_slots_lapse_with_their_leases(cap, throwaway_redis, settings):
    # A real process takes every slot with 2 s leases, renews them, and is killed outright.
    script = (
        "import sys, threading\n"
        "from worker.synthesis_cap import RedisSynthesisCap\n"
        f"cap = RedisSynthesisCap.from_url({throwaway_redis.url!r}, {settings.environment!r}, lease_seconds=2)\n"
        f"[cap.acquire() for _ in range({CAP})]\n"
        "print('held', flush=True)\n"
        "threading.Event().wait()\n")
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        waiting = threading.Event()
        survivor = cap(on_wait=waiting.set)
        assert survivor.in_use() == CAP
        holder.send_signal(signal.SIGKILL)
        holder.wait(5)

        token = survivor.acquire()  # waits until the dead worker's leases lapse

        assert waiting.is_set(), "its slots were all taken at first"
        # the first lapsed lease let it in; the dead worker's others lapse within their term
        assert token and wait_for(lambda: survivor.in_use() == 1, timeout=10,
                                  what="every lease of the dead worker to lapse")
        survivor.release(token)
    finally:
        holder.kill()
        holder.wait(5)


def test_a_redis_that_does_not_answer_is_a_transient_error_not_a_free_pass(cap, throwaway_redis):
    unreachable = cap()
    throwaway_redis.stop()

    with pytest.raises(SynthesisCapUnavailable):
        unreachable.acquire()


def test_real_workers_hold_the_eleventh_job_until_a_slot_frees(
        cap, throwaway_redis, create_soundbite, start_worker, repo):
    held = cap(lease_seconds=600)  # ten syntheses elsewhere, on the other stack
    tokens = [held.acquire() for _ in range(CAP)]
    workers = [start_worker(f"capped-{n}", SOUNDBITE_REDIS_URL=throwaway_redis.url,
                            SOUNDBITE_WORKER_CONCURRENCY="1") for n in range(3)]
    soundbites = [create_soundbite(text=LONG_TEXT)[0] for _ in range(3)]

    # A worker holds at most two jobs (one synthesizing, one prefetched), so three jobs reach
    # at least two workers, and each of those waits at the cap with its first job.
    wait_for(lambda: sum("waiting for a synthesis slot" in w.log_path.read_text() for w in workers) >= 2,
             timeout=60, what="the workers to wait for a slot")
    wait_for(lambda: {repo.get(sb.id).status for sb in soundbites} == {Status.PROCESSING},
             what="every job to be taken")
    assert held.in_use() == CAP

    most = [0]
    sampling = threading.Event()

    def sample():
        while not sampling.is_set():
            most[0] = max(most[0], held.in_use())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    for token in tokens[:2]:
        held.release(token)  # two slots free: three workers share them
    wait_for(lambda: all(repo.get(sb.id).status is Status.READY for sb in soundbites),
             timeout=120, what="every soundbite to be ready")
    sampling.set()
    sampler.join(5)

    assert most[0] == CAP, "the workers filled the free slots and never went past the cap"
    for token in tokens[2:]:
        held.release(token)
    for worker in workers:
        os.killpg(worker.pid, signal.SIGTERM)


def test_a_lease_outlasts_the_synthesis_it_covers_so_a_failed_renewal_never_frees_a_running_slot():
    """Renewal can fail (Redis unreachable from one worker); the time limit kills the synthesis
    before its lease lapses, so an eleventh never starts beside a still-running one."""
    assert spec.SYNTHESIS_LEASE_SECONDS > spec.SYNTHESIS_TIME_LIMIT_SECONDS
