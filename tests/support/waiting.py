"""Waiting for a condition, never sleeping in its place."""
from __future__ import annotations

import time


def wait_until(predicate, what: str, timeout: float = 30, interval: float = 0.05):
    """Poll ``predicate`` until it returns something true, and return that; fail the test after
    ``timeout`` seconds, naming ``what`` was waited for."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)
