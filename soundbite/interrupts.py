"""SIGTERM means what Ctrl-C means: a supervisor, `docker stop` or a CI runner stopping a
command gets the same clean stop as a person at the keyboard."""

from __future__ import annotations

import contextlib
import signal


def _interrupt(*_) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def sigterm_interrupts():
    """Inside the block SIGTERM raises KeyboardInterrupt in the main thread; the previous
    handler comes back after it."""
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
