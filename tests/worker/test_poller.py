"""The consumer loop's promises: bounded concurrency, heartbeat on long jobs, release on stop."""

from __future__ import annotations

import threading

from soundbite.core.domain import Status
from tests.worker.conftest import LONG_TEXT, emf_records, queue_counts, wait_for


class ObservedProcessor:
    """The real batch processor, watched: how many jobs run at once, and how many the queue
    has handed out (in flight) whenever one starts."""

    def __init__(self, inner, sqs, queue_url) -> None:
        self.inner, self.sqs, self.queue_url = inner, sqs, queue_url
        self.running = 0
        self.most_running = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()

    def process(self, message):
        with self._lock:
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        self.most_in_flight = max(self.most_in_flight, queue_counts(self.sqs, self.queue_url)[1])
        try:
            return self.inner.process(message)
        finally:
            with self._lock:
                self.running -= 1


def test_never_takes_more_messages_than_free_slots(create_soundbite, processor, start_poller, repo, settings, sqs):
    soundbites = [create_soundbite()[0] for _ in range(5)]
    observed = ObservedProcessor(processor, sqs, settings.queue_url)

    running = start_poller(observed, concurrency=2)
    for sb in soundbites:
        wait_for(lambda sb=sb: repo.get(sb.id).status is Status.READY)
    stats = running.stop()

    assert observed.most_running <= 2
    # A finished job frees its slot before its delete lands, so one deleting message may
    # still count as in flight beside the slots (by design: the next receive overlaps it).
    assert observed.most_in_flight <= 2 + 1, "received more messages than it could start"
    assert stats.received == stats.acknowledged == 5


class HeldProcessor:
    """The real batch processor, held at the start of each job until the test lets it go:
    a job exactly as long as the test needs, whatever the machine's speed."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.started = threading.Event()
        self.gate = threading.Event()

    def process(self, message):
        self.started.set()
        self.gate.wait(30)
        return self.inner.process(message)


def test_heartbeat_keeps_a_job_longer_than_the_visibility_timeout_from_being_redelivered(
        create_soundbite, processor, start_poller, repo, settings, sqs, synth, metrics_out):
    sqs.set_queue_attributes(QueueUrl=settings.queue_url, Attributes={"VisibilityTimeout": "2"})
    soundbite, _ = create_soundbite()
    held = HeldProcessor(processor)

    running = start_poller(held)
    held.started.wait(10)
    wait_for(lambda: running.poller.stats.extended >= 2, what="two visibility extensions")
    assert queue_counts(sqs, settings.queue_url) == (0, 1, 0), "still hidden past its first 2 s"
    held.gate.set()
    wait_for(lambda: repo.get(soundbite.id).status is Status.READY)
    running.stop()

    assert running.poller.visibility_timeout == 2, "the poller uses the queue's own timeout"
    assert len(synth.calls) == 1
    assert [(r["Outcome"], r["receiveCount"]) for r in emf_records(metrics_out) if "Jobs" in r] == [("ready", 1)]


def test_stopping_releases_a_job_it_cannot_finish_in_the_grace_period(
        create_soundbite, processor, start_poller, repo, settings, sqs):
    soundbite, _ = create_soundbite(text=LONG_TEXT, fmt="mp3")

    running = start_poller(processor, grace_seconds=0)
    wait_for(lambda: repo.get(soundbite.id).status is Status.PROCESSING)
    stats = running.stop()

    assert (stats.released, stats.unfinished_at_exit) == (1, 1)
    [message] = sqs.receive_message(QueueUrl=settings.queue_url, AttributeNames=["All"])["Messages"]
    assert message["Attributes"]["ApproximateReceiveCount"] == "2", "visible again at once"


class SynthesisWatch:
    """The real synthesizer, watched: the most syntheses running at once."""

    def __init__(self, inner) -> None:
        self.inner, self.running, self.most = inner, 0, 0
        self.name, self.default_voice = inner.name, inner.default_voice
        self._lock = threading.Lock()

    def voices(self):
        return self.inner.voices()

    def formats(self):
        return self.inner.formats()

    def synthesize(self, text, voice, fmt):
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            return self.inner.synthesize(text, voice, fmt)
        finally:
            with self._lock:
                self.running -= 1


def test_prefetched_jobs_overlap_storage_but_never_synthesis(
        create_soundbite, settings, synth, start_poller, repo, sqs):
    from worker.batch import BatchProcessor
    from worker.factory import build_handler

    watch = SynthesisWatch(synth)
    processor = BatchProcessor(build_handler(settings, synthesizer=watch, synthesis_slots=1))
    soundbites = [create_soundbite()[0] for _ in range(6)]
    observed = ObservedProcessor(processor, sqs, settings.queue_url)
    running = start_poller(observed, concurrency=1, prefetch=1)
    for sb in soundbites:
        wait_for(lambda sb=sb: repo.get(sb.id).status is Status.READY)
    stats = running.stop()
    assert watch.most == 1, "two syntheses ran at once"
    assert observed.most_running == 2, "the prefetched job never overlapped the running one"
    assert observed.most_in_flight <= 2 + 1  # slots, plus one delete in flight (see above)
    assert stats.received == stats.acknowledged == 6
