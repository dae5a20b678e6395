"""Waiting for a host to get somewhere, with a limit."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest


def wait_until(check: Callable[[], object], seconds: float = 60.0, every: float = 0.2) -> float:
    """Seconds until check() is true; fails the test past the limit."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > seconds:
            pytest.fail(f"not true within {seconds} s: {getattr(check, '__name__', check)}")
        time.sleep(every)
    return time.monotonic() - start
