"""Jobs always end: a synthesis runs in a child process under a time limit, a hung engine
holds only its own process, and a job's last attempt marks its soundbite failed with why."""

from __future__ import annotations

import threading

import pytest

from soundbite.core.domain import Status
from tests.worker import hung_engine
from tests.worker.conftest import TEXT_200, queue_counts, wait_for
from worker.batch import BatchProcessor
from worker.exceptions import EngineTimeout, TextRejected
from worker.factory import build_handler
from worker.synth.isolated import IsolatedSynthesizer

pytestmark = pytest.mark.xdist_group("synthesis-children")


@pytest.fixture
def isolated():
    made: list[IsolatedSynthesizer] = []

    def build(processes: int = 1, time_limit: float = 600) -> IsolatedSynthesizer:
        made.append(IsolatedSynthesizer(hung_engine.build, processes=processes, time_limit=time_limit))
        return made[-1]

    yield build
    for synthesizer in made:
        synthesizer.close()


def in_thread(call) -> tuple[threading.Thread, dict]:
    box: dict = {}

    def run():
        try:
            box["value"] = call()
        except Exception as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


def test_a_hung_engine_never_blocks_other_syntheses_in_the_process(isolated):
    synthesizer = isolated(processes=2)
    synthesizer.start()
    hung, hung_box = in_thread(lambda: synthesizer.synthesize(f"{hung_engine.HANG} forever", "en-us", "wav"))
    wait_for(lambda: synthesizer._idle.qsize() == 1, what="the hung synthesis to take its process")

    done, box = in_thread(lambda: [synthesizer.synthesize(TEXT_200, "en-us", "wav") for _ in range(3)])
    done.join(120)

    assert "value" in box, box.get("error", "the other syntheses waited for the hung one")
    assert all(audio.duration_seconds > 5 for audio in box["value"])
    assert hung.is_alive() and not hung_box, "the hung synthesis is still running"


def test_a_synthesis_past_its_time_limit_is_stopped_and_the_next_one_runs(isolated):
    synthesizer = isolated(processes=1, time_limit=2)
    synthesizer.start()

    with pytest.raises(EngineTimeout, match="longer than its limit of 2 s"):
        synthesizer.synthesize(f"{hung_engine.HANG} forever", "en-us", "wav")
    audio = synthesizer.synthesize(TEXT_200, "en-us", "wav")

    assert audio.duration_seconds > 5
    with pytest.raises(TextRejected):  # the child's own errors come back as they are
        synthesizer.synthesize("...", "en-us", "wav")


@pytest.fixture
def short_visibility(settings, sqs):
    """A failed attempt comes back after 1 s instead of 130 s."""
    sqs.set_queue_attributes(QueueUrl=settings.queue_url, Attributes={"VisibilityTimeout": "1"})


def test_the_last_attempt_of_a_hung_job_marks_it_failed_with_the_reason(
        settings, create_soundbite, start_poller, short_visibility, repo, sqs, isolated):
    synthesizer = isolated(processes=1, time_limit=1)
    soundbite, _ = create_soundbite(text=f"{hung_engine.HANG} on every attempt")
    # Its receives are the last ones: it was redriven as often as the redrive allows.
    handler = build_handler(settings, synthesizer=synthesizer, synthesis_slots=1)
    handler.max_redrives = 0
    running = start_poller(BatchProcessor(handler))

    failed = wait_for(lambda: (sb := repo.get(soundbite.id)).status is Status.FAILED and sb,
                      timeout=90, what="the soundbite to fail")
    running.stop()

    assert "gave up after 3 attempts" in failed.failure_reason
    assert "engine_timeout: synthesis took longer than its limit of 1 s" in failed.failure_reason
    assert queue_counts(sqs, settings.queue_url) == (0, 0, 0)
    assert queue_counts(sqs, settings.dlq_url)[0] == 0, "ended, not dead-lettered"
