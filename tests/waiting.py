"""Waiting for a condition, never for a fixed time: the one poll loop the tests share."""

from __future__ import annotations

import time

import pytest


def wait_for(condition, timeout: float = 20.0, interval: float = 0.05, what: str = "condition"):
    """Poll `condition` until it returns something truthy (and return that); fail the test
    after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
