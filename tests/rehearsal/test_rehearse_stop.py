"""`soundbite rehearse` stops with everything it started: on SIGTERM or Ctrl-C mid-migration
within seconds (exit 130), and even when it is killed outright."""

from __future__ import annotations

import signal
import subprocess
import sys

import psutil
import pytest

from soundbite.exit_codes import ExitCode
from tests.waiting import wait_for

pytestmark = [pytest.mark.timeout(600), pytest.mark.xdist_group("rehearsal"),
              pytest.mark.usefixtures("one_rehearsal_at_a_time")]


def start(tmp_path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "soundbite.cli", "rehearse", "--log-dir", str(tmp_path / "logs")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def migrating(process: subprocess.Popen, timeout: float = 180) -> list[psutil.Process]:
    """Everything the rehearsal runs, once its engine process is migrating."""
    def engine_started() -> list[psutil.Process] | None:
        if process.poll() is not None:
            pytest.fail(f"rehearse exited {process.returncode}: {process.stderr.read()[-2000:]}")
        children = psutil.Process(process.pid).children(recursive=True)
        engine = [c for c in children if "migration.rehearsal.engine_process" in _cmdline(c)]
        return children if engine else None

    return wait_for(engine_started, timeout, interval=0.2, what="the rehearsal's engine process")


def _cmdline(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.Error:  # ended between the listing and the look
        return ""


def still_running(processes: list[psutil.Process], timeout: float) -> list[str]:
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    return [f"{p.pid} {' '.join(p.cmdline()[:4])}" for p in alive if p.is_running()]


@pytest.mark.parametrize("sig", [signal.SIGTERM, pytest.param(signal.SIGINT, marks=pytest.mark.slow)],
                         ids=["sigterm", "ctrl-c"])
def test_an_interrupted_rehearsal_stops_everything_and_exits_130(tmp_path, sig):
    process = start(tmp_path)
    try:
        children = migrating(process)
        assert len(children) >= 6, children  # emulator, 2 x (gunicorn, its worker, SoundBite worker), engine, load

        process.send_signal(sig)

        assert process.wait(60) == ExitCode.INTERRUPTED
        assert "interrupted" in process.stderr.read()
        assert still_running(children, 10) == []
    finally:
        if process.poll() is None:
            process.kill()


def test_a_rehearsal_killed_outright_takes_its_children_with_it(tmp_path):
    process = start(tmp_path)
    children = migrating(process)

    process.kill()
    process.wait(10)

    left = still_running(children, 15)
    for child in children:  # do not leave them to the next test
        if child.is_running():
            child.kill()
    assert left == []
