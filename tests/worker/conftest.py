"""Fixtures for the worker: a data plane of its own, the real espeak-ng synthesizer behind a
counting wrapper, soundbites created and queued the way the API does, and condition waits."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading

import pytest

from soundbite.core.config import Settings
from soundbite.core.domain import CreateRequest, new_soundbite
from soundbite.core.metrics import MetricsEmitter
from soundbite.core.publisher import JobPublisher
from soundbite.core.repository import SoundbiteRepository
from tests.waiting import wait_for  # noqa: F401 - the worker tests import it from here
from worker.batch import BatchProcessor
from worker.factory import build_handler
from worker.metrics import WorkerMetrics
from worker.poller import Poller
from worker.synth import build_synthesizer

SENTENCE = "The quick brown fox jumps over the lazy dog near the river bank."
TEXT_200 = ((SENTENCE + " ") * 4)[:200]
LONG_TEXT = ((SENTENCE + " ") * 60)[:3000]  # a couple of seconds of synthesis as MP3


class CountingSynthesizer:
    """The real synthesizer, counting what it is asked to speak."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.calls: list[tuple[str, str, str]] = []
        self.name = inner.name
        self.default_voice = inner.default_voice

    def voices(self):
        return self.inner.voices()

    def formats(self):
        return self.inner.formats()

    def synthesize(self, text: str, voice: str, fmt: str):
        self.calls.append((text, voice, fmt))
        return self.inner.synthesize(text, voice, fmt)


@pytest.fixture(scope="session")
def real_synthesizer():
    return build_synthesizer("espeak")


@pytest.fixture
def synth(real_synthesizer) -> CountingSynthesizer:
    return CountingSynthesizer(real_synthesizer)


@pytest.fixture
def settings(fresh_data_plane) -> Settings:
    return Settings.from_env(fresh_data_plane.service_env())


@pytest.fixture
def metrics_out() -> io.StringIO:
    return io.StringIO()


def emf_records(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


@pytest.fixture
def make_processor(settings, synth, metrics_out):
    def build(**overrides) -> BatchProcessor:
        chosen = settings.updated(overrides)
        metrics = WorkerMetrics(MetricsEmitter(chosen.environment, "local", stream=metrics_out))
        return BatchProcessor(build_handler(chosen, synthesizer=synth, metrics=metrics))

    return build


@pytest.fixture
def processor(make_processor) -> BatchProcessor:
    return make_processor()


@pytest.fixture
def repo(settings) -> SoundbiteRepository:
    return SoundbiteRepository(settings.table, settings.environment)


@pytest.fixture
def sqs(boto_session):
    return boto_session.client("sqs")


@pytest.fixture
def s3(boto_session):
    return boto_session.client("s3")


@pytest.fixture
def create_soundbite(settings, repo):
    """Create and queue a soundbite as the API does; returns (soundbite, message id)."""
    publisher = JobPublisher(settings.queue_url)

    def create(text: str = TEXT_200, voice: str = "en-us", fmt: str = "wav", copies: int = 1):
        soundbite = new_soundbite(CreateRequest(text, voice, fmt), settings.environment, None)
        repo.create(soundbite)
        ids = [publisher.publish(soundbite, correlation_id=f"test-{soundbite.id[:8]}") for _ in range(copies)]
        return soundbite, ids[0]

    return create


def queue_counts(sqs, url: str) -> tuple[int, int, int]:
    """(visible, in flight, delayed) messages on a queue."""
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed"])["Attributes"]
    return (int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"]),
            int(attrs["ApproximateNumberOfMessagesDelayed"]))


class RunningPoller:
    """A poller running in a thread of the test process until `stop()`."""

    def __init__(self, poller: Poller) -> None:
        self.poller = poller
        self.stop_event = threading.Event()
        self.stats = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.stats = self.poller.run(self.stop_event)

    def stop(self, timeout: float = 15.0):
        self.stop_event.set()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the poller did not stop"
        return self.stats


@pytest.fixture
def start_poller(settings, sqs):
    running: list[RunningPoller] = []

    def start(processor: BatchProcessor, **options) -> RunningPoller:
        options = {"wait_seconds": 1, "grace_seconds": 5, **options}
        poller = Poller(settings.queue_url, processor, client=sqs, **options)
        running.append(RunningPoller(poller))
        return running[-1]

    yield start
    for r in running:
        if r.thread.is_alive():
            r.stop()


@pytest.fixture
def start_worker(fresh_data_plane, aws_emulator, tmp_path):
    """Start `python -m soundbite.cli worker` on this data plane; killed at teardown if alive."""
    started: list[subprocess.Popen] = []

    def start(name: str, **env: str) -> subprocess.Popen:
        log = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            [sys.executable, "-m", "soundbite.cli", "worker"],
            env={**os.environ, **aws_emulator.env, **fresh_data_plane.service_env(),
                 "SOUNDBITE_WORKER_POLL_SECONDS": "1", "PYTHONUNBUFFERED": "1", **env},
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        process.log_path = tmp_path / f"{name}.log"
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def job_records(process) -> list[dict]:
    lines = process.log_path.read_text().splitlines()
    return [r for r in (json.loads(line) for line in lines if line.startswith("{")) if "Jobs" in r]

