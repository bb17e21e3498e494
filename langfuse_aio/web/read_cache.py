"""The application's ReadCache (see `storage.clickhouse.read_cache`), made on first use."""

from __future__ import annotations

from quart import current_app

from langfuse_aio.storage.clickhouse.read_cache import ReadCache

_KEY = "langfuse_aio.read_cache"


def read_cache() -> ReadCache:
    cache = current_app.extensions.get(_KEY)
    if not isinstance(cache, ReadCache):
        cache = current_app.extensions[_KEY] = ReadCache()
    return cache
