"""Per-day results of expensive ClickHouse aggregates, kept while the data of *that day* is unchanged.

`ReadCache` keys a result on every active part of the tables it read, so any insert invalidates
it; under live ingestion every call recomputes. Most aggregates of the read API are per UTC day
of a partition-key column (traces by `toDate(timestamp)`, observations by `toDate(start_time)`):
a day's figure depends only on the rows of that day, and with `FINAL` only on them too, because
the sorting keys start with `(project_id, [type,] toDate(...))`, so every version of a row sits
on the day of its own key.

Which parts can hold rows of day D is in `system.parts`: `min_time`/`max_time` are the minimum
and maximum of the partition key's column over the part (its minmax index, written with the
part). A day's fingerprint is the set of active part names, per table read, whose range covers
the day. A part never changes in place: an insert, merge, mutation or lightweight DELETE makes
new parts under new names, and a new part covers exactly the days its rows are on. So live
ingestion, which writes today's rows, leaves every older day's fingerprint as it was, and only
today is recomputed, with a query restricted to that day (the sort key skips the rest). Exact for
any writer (our worker, deletion jobs, background migrations, another Langfuse), with no hook:
nothing is ever served for a day whose parts changed. The fingerprint is read *before* the
aggregate, so a result computed on newer data is at worst filed under an older fingerprint.

The part's days are `toDate(min_time)`..`toDate(max_time)` evaluated by ClickHouse, in the same
time zone as the `toDate(...)` of the aggregates and of the sort keys (`min_time` is the column's
minimum cut to the second, which keeps its date). A merge that folds a new part into an old multi-day one changes
the names of the days that part covers, and those days are recomputed once: correct, only slower.

One cache per application (in `app.extensions`), bounded in entries, least recently used first out.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any, Generic, TypeVar

from langfuse_aio.storage.clickhouse.base import ClickHouse

V = TypeVar("V")
DayParts = dict[date, tuple[tuple[str, tuple[str, ...]], ...]]

_ONE_DAY = timedelta(days=1)
_NO_RANGE = date(1970, 1, 1)  # what system.parts reports for a part without rows
_PARTS_SQL = (
    "SELECT table, name, toDate(min_time) AS first, toDate(max_time) AS last FROM system.parts"
    " WHERE database = currentDatabase() AND active AND table IN {tables:Array(String)}"
)


def day_fingerprints(parts: Iterable[Mapping[str, Any]]) -> DayParts:
    """Day -> ((table, part names covering the day), …) from rows (table, name, first, last day)."""
    names: dict[date, dict[str, list[str]]] = {}
    everywhere: list[tuple[str, str]] = []  # parts without a time range (empty ones): in every fingerprint
    for part in parts:
        day: date = part["first"]
        last: date = part["last"]
        if day <= _NO_RANGE:
            everywhere.append((str(part["table"]), str(part["name"])))
            continue
        while day <= last:
            names.setdefault(day, {}).setdefault(str(part["table"]), []).append(str(part["name"]))
            day += _ONE_DAY
    for tables in names.values():
        for table, name in everywhere:
            tables.setdefault(table, []).append(name)
    return {
        day: tuple(sorted((table, tuple(sorted(ns))) for table, ns in tables.items()))
        for day, tables in names.items()
    }


async def read_day_fingerprints(ch: ClickHouse, tables: Sequence[str]) -> DayParts:
    return day_fingerprints(await ch.query(_PARTS_SQL, {"tables": sorted(tables)}))


class DayCache(Generic[V]):
    """Values per (key, day); a value is reused while the day's fingerprint is unchanged."""

    def __init__(self, max_entries: int = 50_000) -> None:
        self._max_entries = max_entries
        self._entries: OrderedDict[tuple[Hashable, date], tuple[Hashable, V]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    async def per_day(
        self,
        ch: ClickHouse,
        tables: Sequence[str],
        key: Hashable,
        compute: Callable[[list[date]], Awaitable[Mapping[date, V]]],
        *,
        days: Iterable[date] | None = None,
        between: tuple[date, date] | None = None,
        empty: V,
        fingerprints: DayParts | None = None,
    ) -> dict[date, V]:
        """The value of every day that may hold rows (or of `days` only, or of the days `between`
        first and last inclusive), computing the missing ones.

        `compute(days)` returns the values of the days it was given that hold rows; the others
        are `empty`. Days no active part covers are left out (nothing can be there)."""
        prints = fingerprints if fingerprints is not None else await read_day_fingerprints(ch, tables)
        wanted = sorted(prints) if days is None else sorted(d for d in set(days) if d in prints)
        if between is not None:
            wanted = [d for d in wanted if between[0] <= d <= between[1]]
        found: dict[date, V] = {}
        missing: list[date] = []
        for day in wanted:
            entry = self._entries.get((key, day))
            if entry is not None and entry[0] == prints[day]:
                self._entries.move_to_end((key, day))
                found[day] = entry[1]
            else:
                missing.append(day)
        self.hits += len(found)
        self.misses += len(missing)
        if missing:
            computed = await compute(missing)
            for day in missing:
                value = computed.get(day, empty)
                found[day] = value
                self._entries[(key, day)] = (prints[day], value)
                self._entries.move_to_end((key, day))
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return found
