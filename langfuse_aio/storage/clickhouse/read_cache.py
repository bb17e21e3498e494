"""Results of expensive ClickHouse aggregates, kept while the tables they read are unchanged.

A MergeTree table's data is exactly its set of active parts: every insert, merge, mutation or
lightweight delete replaces parts under new names, and a part never changes in place. So a result
stays valid while `system.parts` lists the same active part names for every table it read; that
check costs one small query (~2 ms on chDB), against tens to thousands of milliseconds for a
deduplicated count or the daily metrics of a large project. Nothing is ever served stale: the
fingerprint is read *before* the aggregate, so a result computed on newer data is at worst filed
under an older fingerprint, which no later request matches.

One cache per application (it lives in `app.extensions`), bounded in entries, least recently used
first out; results are small (a count, a list of days).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any, TypeVar

from langfuse_aio.storage.clickhouse.base import ClickHouse

T = TypeVar("T")

_PARTS_SQL = (
    "SELECT table, arraySort(groupArray(name)) AS parts FROM system.parts"
    " WHERE database = currentDatabase() AND active AND table IN {tables:Array(String)} GROUP BY table"
)


class ReadCache:
    def __init__(self, max_entries: int = 512) -> None:
        self._max_entries = max_entries
        self._entries: OrderedDict[Hashable, tuple[Hashable, Any]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    async def fingerprint(self, ch: ClickHouse, tables: Sequence[str]) -> Hashable:
        rows = await ch.query(_PARTS_SQL, {"tables": sorted(tables)})
        return tuple(sorted((str(r["table"]), tuple(r["parts"])) for r in rows))

    async def get(
        self, ch: ClickHouse, tables: Sequence[str], key: Hashable, compute: Callable[[], Awaitable[T]],
        *, version: Hashable | None = None,
    ) -> T:
        """`compute()`'s result for `key`, reused while `tables` keep the same active parts.

        `version` is `fingerprint(ch, tables)` when the caller has just read it."""
        if version is None:
            version = await self.fingerprint(ch, tables)
        entry_key = (tuple(sorted(tables)), key)
        cached = self._entries.get(entry_key)
        if cached is not None and cached[0] == version:
            self._entries.move_to_end(entry_key)
            self.hits += 1
            result: T = cached[1]
            return result
        self.misses += 1
        value = await compute()
        self._entries[entry_key] = (version, value)
        self._entries.move_to_end(entry_key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
        return value
