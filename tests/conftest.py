"""Shared fixtures: a real AWS emulator over HTTP (one per test process) and its data plane."""

from __future__ import annotations

import os
import uuid

import boto3
import pytest

from infra.local import bootstrap, emulator


@pytest.fixture(scope="session")
def aws_emulator():
    """The selected emulator (MiniStack unless SOUNDBITE_EMULATOR says moto), a process on a
    loopback port, for the whole test session."""
    with emulator.running() as em:
        yield em


@pytest.fixture(scope="session")
def moto_polly(aws_emulator):
    """An emulator that serves Amazon Polly: moto's server (MiniStack has no Polly)."""
    if aws_emulator.kind == emulator.MOTO:
        yield aws_emulator
        return
    with emulator.running(kind=emulator.MOTO) as em:
        yield em


@pytest.fixture(scope="session")
def aws_env(aws_emulator):
    """Point boto3 in this process at the emulator, as every SoundBite process is."""
    saved = {k: os.environ.get(k) for k in aws_emulator.env}
    os.environ.update(aws_emulator.env)
    yield aws_emulator.env
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def data_plane(aws_env, aws_emulator):
    """Tables, bucket and queues bootstrapped from the spec, shared by the session."""
    return bootstrap.bootstrap(aws_emulator.endpoint, environment="test")


@pytest.fixture
def fresh_data_plane(aws_env, aws_emulator):
    """A data plane of its own (unique environment name) for tests that count what they see."""
    return bootstrap.bootstrap(aws_emulator.endpoint, environment=f"t{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="session")
def boto_session(aws_env):
    return boto3.session.Session()



@pytest.fixture
def one_rehearsal_at_a_time():
    """The test's whole body is a rehearsal: it waits while another test process rehearses."""
    from tests.rehearsal_lock import one_rehearsal_at_a_time as lock

    with lock():
        yield


@pytest.fixture
def throwaway_redis():
    """A Redis of the test's own: stop it to see what the code does without Redis."""
    from tests.throwaway_redis import ThrowawayRedis

    server = ThrowawayRedis()
    server.start()
    yield server
    server.stop()
