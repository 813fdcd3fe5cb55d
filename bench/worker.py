"""Worker benchmark: soundbites per second through the full path against the raw synthesizer.

The full path is a real worker process (`python -m soundbite.cli worker --concurrency N`)
on the emulator: receive, load, mark processing, synthesize, upload, mark ready, delete.
The raw figure is the same synthesizer in this process on the same 200-character texts,
with nothing around it. The soundbite records exist before the clock starts (the API wrote
them); during the run only job messages are sent, a few more than the worker can finish
while a job sits out its queue delay, because the emulator's SQS slows down as its queue
grows. Completions are read from the worker's own metrics
lines on stdout, so counting them costs the emulator nothing.

    python -m bench.worker [--json] [--short] [--runs N]
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
import time

from bench import cli, machine, servers, stats
from soundbite import spec
from soundbite.core import domain
from soundbite.core.publisher import JobPublisher
from soundbite.core.repository import SoundbiteRepository

TEXT_CHARS = 200
CONCURRENCY = (1, 2, 4)
FULL_JOBS, SHORT_JOBS = 30, 4
FULL_RUNS = 3
TARGET_AT_ONE = 0.9
SENTENCE = ("the quick brown fox jumps over a lazy dog while seven bright voices read the morning "
            "news aloud to a quiet room of patient listeners who wait for every careful word")
READY_MARK = '"Outcome":"ready"'
START_TIMEOUT_SECONDS = 60


def texts(count: int, chars: int = TEXT_CHARS) -> list[str]:
    """`count` different English-like texts of exactly `chars` characters."""
    vocabulary, found = SENTENCE.split(), []
    for n in range(count):
        words, i = [], n
        while len(" ".join(words)) < chars:
            words.append(vocabulary[i % len(vocabulary)])
            i += 1
        found.append((" ".join(words)[:chars - 1].rstrip() + ".").ljust(chars, "."))
    return found


def raw_rate(sample: list[str]) -> dict:
    """The synthesizer alone: soundbites per second, one after another, on `sample`."""
    from worker.synth import build_synthesizer

    synth = build_synthesizer("espeak")
    synth.synthesize(sample[0], spec.DEFAULT_VOICE, spec.DEFAULT_FORMAT)  # engine loaded first
    durations = []
    started = time.perf_counter()
    for text in sample:
        t0 = time.perf_counter()
        synth.synthesize(text, spec.DEFAULT_VOICE, spec.DEFAULT_FORMAT)
        durations.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    return {"per_second": round(len(sample) / elapsed, 3), **stats.latency_summary(durations)}


class WorkerProcess:
    """A worker subprocess and a count of the jobs it reported ready."""

    def __init__(self, env: dict[str, str], concurrency: int) -> None:
        self.ready = 0
        self.ready_at: list[float] = []
        """When each job was reported ready (perf_counter), in order."""
        self.changed = threading.Condition()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "soundbite.cli", "worker", "--concurrency", str(concurrency)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            start_new_session=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            if READY_MARK in line:
                with self.changed:
                    self.ready_at.append(time.perf_counter())
                    self.ready += 1
                    self.changed.notify_all()

    def wait_for(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self.changed:
            while self.ready < count:
                if self.process.poll() is not None:
                    raise RuntimeError(f"the worker exited with code {self.process.returncode}")
                if not self.changed.wait(min(1.0, max(0.0, deadline - time.monotonic()))) \
                        and time.monotonic() >= deadline:
                    raise RuntimeError(f"the worker finished {self.ready} of {count} jobs in {timeout:.0f} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def _soundbites(repository: SoundbiteRepository, sample: list[str], environment: str) -> list:
    made = []
    for text in sample:
        request = domain.CreateRequest(text, spec.DEFAULT_VOICE, spec.DEFAULT_FORMAT)
        soundbite = domain.new_soundbite(request, environment, None)
        repository.create(soundbite)
        made.append(soundbite)
    return made


def window(concurrency: int, raw_per_second: float) -> int:
    """Jobs kept in flight: `concurrency + 2` ready for the worker, plus as many as it could
    finish while a new job sits out its queue delay (`spec.JOB_DELAY_SECONDS`), so the worker
    never waits on the delay instead of working."""
    return concurrency + 2 + math.ceil(spec.JOB_DELAY_SECONDS * raw_per_second * concurrency)


def full_rate(local, env: dict[str, str], sample: list[str], concurrency: int,
              raw_per_second: float) -> dict:
    """Soundbites per second through a worker at `concurrency`, fed `window(...)` at a time."""
    plane = local.data_plane
    repository = SoundbiteRepository(plane.soundbites_table, plane.environment,
                                     client=local.emulator.client("dynamodb"))
    publisher = JobPublisher(plane.queue_url, client=local.emulator.client("sqs"))
    warmup = _soundbites(repository, sample[:concurrency], plane.environment)
    timed = _soundbites(repository, sample, plane.environment)
    worker = WorkerProcess(env, concurrency)
    try:
        for soundbite in warmup:
            publisher.publish(soundbite)
        worker.wait_for(len(warmup), START_TIMEOUT_SECONDS)  # engine loaded, connections open
        in_flight, sent, base = window(concurrency, raw_per_second), 0, worker.ready
        while sent < len(timed):
            with worker.changed:
                while sent - (worker.ready - base) >= in_flight:
                    worker.changed.wait(0.5)
                    if worker.process.poll() is not None:
                        raise RuntimeError(f"the worker exited with code {worker.process.returncode}")
            publisher.publish(timed[sent])
            sent += 1
        worker.wait_for(base + len(timed), START_TIMEOUT_SECONDS + 10 * len(timed))
        # Steady state: from the first timed job's end to the last's, so the first job's queue
        # delay (spec.JOB_DELAY_SECONDS, paid once, while the pipeline fills) is not counted.
        done = worker.ready_at[base:base + len(timed)]
        elapsed = done[-1] - done[0]
    finally:
        worker.stop()
    return {"per_second": round((len(timed) - 1) / elapsed, 3), "seconds": round(elapsed, 2)}


def measure(jobs: int, runs: int) -> dict:
    sample = texts(jobs)
    result = {"benchmark": "worker", "machine": machine.describe(), "settings": {
        "jobs_per_run": jobs, "runs": runs, "text_chars": TEXT_CHARS, "voice": spec.DEFAULT_VOICE,
        "format": spec.DEFAULT_FORMAT, "concurrency": list(CONCURRENCY), "synthesizer": "espeak"}}
    rounds = []
    with servers.soundbite_stack() as local, cli.progress() as bar:
        env = {**os.environ, **local.emulator.env, **local.data_plane.service_env(),
               "SOUNDBITE_BACKEND": "ec2", "PYTHONUNBUFFERED": "1",
               # A short long poll only changes how soon an idle worker stops: while it
               # measures, jobs arrive before any poll would time out.
               "SOUNDBITE_WORKER_POLL_SECONDS": "1"}
        task = bar.add_task("worker", total=runs * (1 + len(CONCURRENCY)))
        for n in range(runs):
            bar.update(task, description=f"worker run {n + 1}/{runs}: raw synthesizer")
            measured = {"raw": raw_rate(sample)}
            bar.advance(task)
            for c in CONCURRENCY:
                bar.update(task, description=f"worker run {n + 1}/{runs}: full path, concurrency {c}")
                measured[f"full_c{c}"] = full_rate(local, env, sample, c, measured["raw"]["per_second"])
                measured[f"full_c{c}"]["ratio_to_raw"] = stats.ratio(
                    measured[f"full_c{c}"]["per_second"], measured["raw"]["per_second"])
                bar.advance(task)
            rounds.append(measured)
    result["runs"] = rounds
    result["raw"] = stats.median_of_runs([r["raw"] for r in rounds], ("per_second", "p50_ms", "p95_ms"))
    result["full"] = {c: stats.median_of_runs([r[f"full_c{c}"] for r in rounds],
                                              ("per_second", "ratio_to_raw")) for c in CONCURRENCY}
    at_one = result["full"][1]["ratio_to_raw"]
    result["targets"] = [{"target": "full path at concurrency 1 >= 90 % of the raw synthesizer",
                          "value": at_one, "limit": TARGET_AT_ONE, "met": (at_one or 0) >= TARGET_AT_ONE}]
    return result


def markdown(result: dict) -> str:
    s = result["settings"]
    raw = result["raw"]
    lines = [f"Worker, {s['jobs_per_run']} soundbites of {s['text_chars']} characters per run "
             f"({s['synthesizer']}, {s['voice']}, {s['format']}), median of {s['runs']} runs.", "",
             "| path | concurrency | soundbites/s | vs raw |", "|---|---:|---:|---:|",
             f"| raw synthesizer (p50 {raw['p50_ms']:.0f} ms each) | 1 | {raw['per_second']:.2f} | 1.00 |"]
    for c, row in result["full"].items():
        lines.append(f"| full path (receive, synthesize, upload, update, delete) | {c} | "
                     f"{row['per_second']:.2f} | {row['ratio_to_raw']:.2f} |")
    lines += ["", "| target | measured | limit | met |", "|---|---:|---:|---|"]
    for row in result["targets"]:
        value = "-" if row["value"] is None else f"{row['value']:.2f}"
        lines.append(f"| {row['target']} | {value} | {row['limit']:g} | {'yes' if row['met'] else 'NO'} |")
    return "\n".join(lines)


def run(short: bool = False, runs: int | None = None, jobs: int | None = None) -> dict:
    """The benchmark with its full (or short) settings; what `--json` prints."""
    started = time.monotonic()
    result = measure(jobs or (SHORT_JOBS if short else FULL_JOBS), cli.positive_runs(runs, short, FULL_RUNS))
    result["wall_seconds"] = round(time.monotonic() - started, 1)
    return result


def main(argv: list[str] | None = None) -> None:
    p = cli.parser("Worker throughput through the full path against the raw synthesizer.")
    p.add_argument("--jobs", type=int, help="soundbites per run and concurrency")
    args = p.parse_args(argv)
    cli.emit(run(args.short, args.runs, args.jobs), args.json, markdown)


if __name__ == "__main__":
    main()
