"""The application's read caches (see `storage.clickhouse.read_cache` and `day_cache`), made on first use."""

from __future__ import annotations

from typing import Any

from quart import current_app

from langfuse_aio.storage.clickhouse.day_cache import DayCache
from langfuse_aio.storage.clickhouse.read_cache import ReadCache

_KEY = "langfuse_aio.read_cache"
_DAY_KEY = "langfuse_aio.day_cache"


def read_cache() -> ReadCache:
    cache = current_app.extensions.get(_KEY)
    if not isinstance(cache, ReadCache):
        cache = current_app.extensions[_KEY] = ReadCache()
    return cache


def day_cache() -> DayCache[Any]:
    """One per application; callers keep their values apart by key."""
    cache = current_app.extensions.get(_DAY_KEY)
    if not isinstance(cache, DayCache):
        cache = current_app.extensions[_DAY_KEY] = DayCache()
    return cache
