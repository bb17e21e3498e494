"""Trace reads for the public API: filtered, ordered pages with their count, and per-trace figures.

Correctness. Filters apply to each trace's *latest* version (`repositories` docstring). Rows of any
version matching the predicate P name candidate ids; all versions of those ids are deduplicated
(`LIMIT 1 BY id`), tombstones dropped and P checked again on the survivor. An id whose latest live
version matches P has a live matching row, so it is always a candidate.

Bounded cost (the page). Deduplicating every trace of a 1M-trace project takes most of a second; a
page needs far fewer. `_page_keys` reads the first `m` live rows matching P in the page order (only
their sort columns), deduplicates just those ids (only the columns P and the order read), and keeps
the survivors ranked at or before the m-th row (the boundary): an id outside those rows has every
matching row after the boundary, so the kept survivors are exactly the head of the true order. When
they are too few, `m` grows x4 up to `MAX_WINDOW`, past which all candidates are deduplicated
(pages deeper than a few thousand rows). Ordered by timestamp, the first reads are
limited to a time window (the newest day of matching traces, then a week, then a month): a top-N
read of a day skips the other days' granules through the sort key `(project_id, toDate(timestamp),
id)`. Rows outside the window sort after every row in it, so a survivor inside the window is again
exactly placed.

The count. Exact deduplication of every candidate costs as much as the page would without the
window. `count_traces` uses `FINAL` instead: ClickHouse collapses versions per sorting key, and
since the worker tombstones a row's old sorting key when its timestamp moves to another day
(`domain.merge`), one live version per trace remains. Only a trace written by another writer (e.g.
Langfuse itself) whose day changed without a tombstone would count twice. Partitions are monthly
and the sorting key contains the day, so keys never span partitions
(`do_not_merge_across_partitions_select_final`). A page that is neither full nor empty is the last
one and tells the total itself. With a `ReadCache`, the count and the window's anchor day are kept
while the traces table's parts are unchanged (exact, see `read_cache`).

The page's full rows are read last, by id within the page's time range (`rows_by_id`).

SQL text comes only from constants here (order columns only from `TRACE_ORDER_COLUMNS`); every
value is a bound parameter.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol, TypeVar

from langfuse_aio.domain.query_params import OrderBy, Page
from langfuse_aio.domain.trace_filters import TRACE_ORDER_COLUMNS, TraceFilter, at_or_before, sort_key
from langfuse_aio.storage.clickhouse.base import ClickHouse, Row
from langfuse_aio.storage.clickhouse.read_cache import ReadCache

MAX_WINDOW = 8_192  # candidate ids go back to ClickHouse as a bound array
TRACE_WINDOW = timedelta(hours=1)  # observations/scores up to this long before their trace's timestamp
_DAY_WINDOWS = (0, 6, 29)  # days before (after) the newest (oldest) day: 1 day, a week, a month
_SHORT_RANGE = timedelta(days=7)  # a from..to range this short needs no time windows
_LATEST = "ORDER BY event_ts DESC, is_deleted ASC LIMIT 1 BY id"
_KEY_COLUMNS = (
    "id, timestamp, name, user_id, session_id, release, version, public, bookmarked, tags, environment,"
    " event_ts, is_deleted"
)
_FINAL_SETTINGS = " SETTINGS do_not_merge_across_partitions_select_final = 1"
_TS = "DateTime64(3)"
T = TypeVar("T")


class _Cached(Protocol):
    """A compute-or-reuse hook for results that depend only on the traces table's data."""

    async def __call__(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T: ...


@dataclass(frozen=True, slots=True)
class Predicate:
    project_id: str
    conditions: tuple[str, ...]
    params: dict[str, Any]
    columns: tuple[str, ...] = ()  # the columns the conditions read

    @property
    def sql(self) -> str:
        return "".join(f" AND {c}" for c in self.conditions)

    def also(self, condition: str, **params: Any) -> Predicate:
        return Predicate(self.project_id, (*self.conditions, condition), {**self.params, **params}, self.columns)


def ceil_millisecond(value: datetime) -> datetime:
    """The first millisecond at or after `value`: for millisecond columns, `>= value` and `< value`
    mean `>=`/`<` this (a DateTime64(3) parameter would truncate instead)."""
    if value.microsecond % 1000:
        value += timedelta(microseconds=1000 - value.microsecond % 1000)
    return value


def predicate(project_id: str, flt: TraceFilter) -> Predicate:
    """P: the filter as conditions on a traces row."""
    conds: list[str] = []
    columns: list[str] = []
    params: dict[str, Any] = {"project_id": project_id}
    for column, name, value in (
        ("user_id", "user_id", flt.user_id),
        ("name", "name", flt.name),
        ("session_id", "session_id", flt.session_id),
        ("version", "version", flt.version),
        ("release", "release", flt.release),
    ):
        if value is not None:
            conds.append(f"{column} = {{{name}:String}}")
            columns.append(column)
            params[name] = value
    if flt.tags:
        conds.append("hasAll(tags, {tags:Array(String)})")
        columns.append("tags")
        params["tags"] = list(flt.tags)
    if flt.environments:
        conds.append("environment IN {environments:Array(String)}")
        columns.append("environment")
        params["environments"] = list(flt.environments)
    if flt.from_timestamp is not None:
        conds.append(f"timestamp >= {{from_timestamp:{_TS}}}")
        params["from_timestamp"] = ceil_millisecond(flt.from_timestamp)
    if flt.to_timestamp is not None:
        conds.append(f"timestamp < {{to_timestamp:{_TS}}}")
        params["to_timestamp"] = ceil_millisecond(flt.to_timestamp)
    return Predicate(project_id, tuple(conds), params, tuple(columns))


def _order_sql(order: OrderBy) -> str:
    if order.column not in TRACE_ORDER_COLUMNS.values():
        raise ValueError(f"cannot order traces by {order.column!r}")
    direction = "DESC" if order.descending else "ASC"
    return f"ORDER BY {order.column} {direction}, id {direction}"


def latest_sql(p: Predicate, candidates: str, columns: str = "*") -> str:
    """Latest live versions of the candidate ids that satisfy P."""
    return (
        f"SELECT {columns} FROM (SELECT {columns} FROM traces WHERE project_id = {{project_id:String}}{candidates}"
        f" {_LATEST}) WHERE is_deleted = 0{p.sql}"
    )


# --- the page ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Window:
    condition: str
    bound: datetime
    descending: bool

    def contains(self, row: Row) -> bool:
        ts: datetime = row["timestamp"]
        return ts >= self.bound if self.descending else ts < self.bound


async def _edge_day(ch: ClickHouse, p: Predicate, descending: bool) -> date | None:
    """The newest (oldest) day with a live row matching P: a top-1 read in sort-key order."""
    rows = await ch.query(
        "SELECT toDate(timestamp) AS day FROM traces WHERE project_id = {project_id:String} AND is_deleted = 0"
        f"{p.sql} ORDER BY day {'DESC' if descending else 'ASC'} LIMIT 1",
        p.params,
    )
    return rows[0]["day"] if rows else None


async def _windows(
    ch: ClickHouse, p: Predicate, order: OrderBy, flt: TraceFilter, cached: _Cached
) -> list[_Window | None]:
    """Time windows to try in turn for a timestamp order (None: the whole range)."""
    if order.column != "timestamp":
        return [None]
    if flt.from_timestamp and flt.to_timestamp and flt.to_timestamp - flt.from_timestamp <= _SHORT_RANGE:
        return [None]
    edge = await cached(("edge-day", p.project_id, flt, order.descending),
                        lambda: _edge_day(ch, p, order.descending))
    if edge is None:
        return []  # nothing matches at all
    anchor = datetime.combine(edge, time(), tzinfo=UTC)
    windows: list[_Window | None] = []
    for days in _DAY_WINDOWS:
        if order.descending:
            start = anchor - timedelta(days=days)
            if flt.from_timestamp is not None and flt.from_timestamp >= start:
                break
            windows.append(_Window(f"timestamp >= {{window:{_TS}}}", start, True))
        else:
            end = anchor + timedelta(days=days + 1)
            if flt.to_timestamp is not None and flt.to_timestamp <= end:
                break
            windows.append(_Window(f"timestamp < {{window:{_TS}}}", end, False))
    return [*windows, None]


async def _head(ch: ClickHouse, p: Predicate, order: OrderBy, window: _Window | None, m: int) -> tuple[list[Row], bool]:
    """The head of the true order (key columns) that the first `m` matching rows (in `window`)
    decide, and whether those rows filled `m` (else every matching row in the window was read)."""
    scope = p if window is None else p.also(window.condition, window=window.bound)
    raw = await ch.query(
        f"SELECT id, {order.column} FROM traces WHERE project_id = {{project_id:String}} AND is_deleted = 0"
        f"{scope.sql} {_order_sql(order)} LIMIT {{m:UInt32}}",
        {**scope.params, "m": m},
    )
    if not raw:
        return [], False
    ids = list(dict.fromkeys(str(r["id"]) for r in raw))
    columns = ", ".join(dict.fromkeys(("id", "timestamp", order.column, *p.columns, "event_ts", "is_deleted")))
    rows = await ch.query(
        f"{latest_sql(p, ' AND id IN {ids:Array(String)}', columns)} {_order_sql(order)}", {**p.params, "ids": ids}
    )
    full = len(raw) == m
    if full:
        boundary = sort_key(raw[-1], order.column)
        rows = [r for r in rows if at_or_before(sort_key(r, order.column), boundary, descending=order.descending)]
    elif window is not None:
        rows = [r for r in rows if window.contains(r)]
    return rows, full


async def _page_keys(
    ch: ClickHouse, p: Predicate, flt: TraceFilter, order: OrderBy, page: Page, *, cached: _Cached
) -> list[Row]:
    """Key columns of the page's traces (latest live versions), in order."""
    want = page.offset + page.limit
    m = 2 * want + 20
    windows = await _windows(ch, p, order, flt, cached)
    if not windows:
        return []
    for window in windows:
        while m <= MAX_WINDOW:
            rows, full = await _head(ch, p, order, window, m)
            if len(rows) >= want or (not full and window is None):
                return rows[page.offset : want]
            if not full:
                break  # the window is exhausted: widen it
            m *= 4
        if m > MAX_WINDOW:
            break
    candidates = f" AND id IN (SELECT id FROM traces WHERE project_id = {{project_id:String}}{p.sql})" if p.sql else ""
    return await ch.query(
        f"{latest_sql(p, candidates, _KEY_COLUMNS)} {_order_sql(order)} LIMIT {{take:UInt32}} OFFSET {{skip:UInt64}}",
        {**p.params, "take": page.limit, "skip": page.offset},
    )


async def rows_by_id(ch: ClickHouse, project_id: str, keys: Sequence[Row]) -> dict[str, Row]:
    """Full latest live rows of traces whose key columns (`id`, `timestamp`) were just read.

    Their timestamps bound the read, so the sort key narrows it to their days before the id
    index does: the wide columns (input, output, metadata) are read for those granules only."""
    if not keys:
        return {}
    stamps = [k["timestamp"] for k in keys]
    rows = await ch.query(
        "SELECT * FROM (SELECT * FROM traces WHERE project_id = {project_id:String}"
        " AND timestamp >= {lo:DateTime64(3)} AND timestamp <= {hi:DateTime64(3)} AND id IN {ids:Array(String)}"
        f" {_LATEST}) WHERE is_deleted = 0",
        {"project_id": project_id, "ids": [str(k["id"]) for k in keys], "lo": min(stamps), "hi": max(stamps)},
    )
    return {str(r["id"]): r for r in rows}


async def count_traces(ch: ClickHouse, flt: TraceFilter, project_id: str) -> int:
    """Live traces whose latest version matches the filter (see the module docstring)."""
    p = predicate(project_id, flt)
    rows = await ch.query(
        f"SELECT count() AS n FROM traces FINAL WHERE project_id = {{project_id:String}} AND is_deleted = 0{p.sql}"
        f"{_FINAL_SETTINGS}",
        p.params,
    )
    return int(rows[0]["n"]) if rows else 0


async def list_page_with_total(
    ch: ClickHouse, flt: TraceFilter, order: OrderBy, page: Page, project_id: str, *, cache: ReadCache | None = None
) -> tuple[list[Row], int]:
    """The page's full trace rows in order, and the number of matching traces.

    A page that is neither full nor empty is the last one, so it tells the total without a count;
    otherwise the count is taken from `cache` while the traces table is unchanged."""
    p = predicate(project_id, flt)
    version = None if cache is None else await cache.fingerprint(ch, ("traces",))

    async def cached(key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        if cache is None:
            return await compute()
        return await cache.get(ch, ("traces",), key, compute, version=version)

    keys = await _page_keys(ch, p, flt, order, page, cached=cached)
    found = await rows_by_id(ch, project_id, keys)
    rows = [found[str(k["id"])] for k in keys if str(k["id"]) in found]
    if 0 < len(keys) < page.limit or (not keys and page.offset == 0):
        return rows, page.offset + len(keys)
    return rows, await cached(("count", project_id, flt), lambda: count_traces(ch, flt, project_id))
