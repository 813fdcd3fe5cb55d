"""One whole rehearsal at a time across test processes.

Lanes, workers, edge, load and engine on two cores: two rehearsals at once starve each
other's judges. A lock file rather than only an xdist group, so it holds however the tests are
distributed; it is taken around the rehearsal itself, so a test process waits only while
another one is rehearsing."""

from __future__ import annotations

import contextlib
import fcntl
import tempfile
from pathlib import Path

LOCK = Path(tempfile.gettempdir()) / "soundbite-tests-rehearsal.lock"


@contextlib.contextmanager
def one_rehearsal_at_a_time():
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
