"""The DynamoDB repository against the emulator: round trips and guarded transitions."""

import pytest

from soundbite.core import domain
from soundbite.core.exceptions import DependencyUnavailable, StateConflict
from soundbite.core.repository import SoundbiteRepository


def make(repo, user=None):
    sb = domain.new_soundbite(domain.CreateRequest("hello", "en-us", "wav"), repo.environment, user)
    repo.create(sb)
    return sb


def test_round_trip_keeps_every_field(repo):
    sb = make(repo, user="u1")
    assert repo.get(sb.id) == sb


def test_transitions_follow_the_lifecycle(repo):
    sb = make(repo)
    assert repo.mark_processing(sb.id).status is domain.Status.PROCESSING
    assert repo.mark_processing(sb.id).status is domain.Status.PROCESSING  # redelivery
    ready = repo.mark_ready(sb.id, "audio/x.wav", 123, 1.25)
    assert (ready.status, ready.audio_bytes, ready.duration_seconds) == (domain.Status.READY, 123, 1.25)
    with pytest.raises(StateConflict):
        repo.mark_processing(sb.id)  # a late duplicate cannot undo ready
    with pytest.raises(StateConflict):
        repo.mark_failed(sb.id, "late failure")
    assert repo.get(sb.id).status is domain.Status.READY


def test_failed_keeps_its_reason_and_unknown_ids_conflict(repo):
    sb = make(repo)
    assert repo.mark_failed(sb.id, "voice rejected").failure_reason == "voice rejected"
    with pytest.raises(StateConflict):
        repo.mark_processing(domain.new_id())


def test_create_never_overwrites(repo):
    sb = make(repo)
    with pytest.raises(StateConflict):
        repo.create(sb)


def test_a_missing_table_is_a_dependency_error(fresh_data_plane):
    repo = SoundbiteRepository("no-such-table", fresh_data_plane.environment)
    with pytest.raises(DependencyUnavailable, match="dynamodb"):
        repo.get(domain.new_id())
