"""The application's read caches (see `storage.clickhouse.read_cache`, `day_cache` and
`read_index_state`), made on first use."""

from __future__ import annotations

from typing import Any

from quart import current_app

from langfuse_aio.storage.clickhouse.day_cache import DayCache
from langfuse_aio.storage.clickhouse.read_cache import ReadCache
from langfuse_aio.storage.clickhouse.read_index_state import ReadIndexes

_KEY = "langfuse_aio.read_cache"
_DAY_KEY = "langfuse_aio.day_cache"
_INDEXES_KEY = "langfuse_aio.read_indexes"


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


def read_indexes() -> ReadIndexes:
    """Which read indexes are complete, cached per application (it has one ClickHouse)."""
    cache = current_app.extensions.get(_INDEXES_KEY)
    if not isinstance(cache, ReadIndexes):
        cache = current_app.extensions[_INDEXES_KEY] = ReadIndexes()
    return cache
