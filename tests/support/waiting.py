"""Polling helpers for asynchronous effects (ingestion is acknowledged before it is visible)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(check: Callable[[], Awaitable[T | None]], *, timeout: float = 15.0, interval: float = 0.05,
                     what: str = "condition") -> T:
    """Await `check()` until it returns something other than None (or False)."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = await check()
        if last is not None and last is not False:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"{what} not reached within {timeout}s (last: {last!r})")


def eventually_sync(fetch: Callable[[], T], ready: Callable[[T], bool], *, timeout: float = 30.0,
                    interval: float = 0.2) -> T:
    """Call `fetch()` until `ready(value)`; for tests that drive a server process with blocking clients.

    A failing `fetch()` (not there yet: 404, a parse of a partial answer) is retried until the
    deadline, then raised."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = fetch()
        except Exception:
            if time.monotonic() > deadline:
                raise
        else:
            if ready(value):
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"not ready within {timeout} s: {value!r}")
        time.sleep(interval)
