"""Trace reads for the public API: filtered, ordered pages with their count, and per-trace figures.

Correctness. Filters apply to each trace's *latest* version (`repositories` docstring). Pages and
counts read `traces FINAL`: ClickHouse collapses the versions of each sorting key to the one with
the highest event_ts, and the WHERE clause (not moved to PREWHERE under FINAL) is applied to that
survivor. The sorting key `(project_id, toDate(timestamp), id)` holds one version per trace except
when a trace's day changed, and then the worker tombstones the old key (`domain.merge`) in the same
insert as the new row, so one live version per trace remains: the results are exact for the rows
this server writes, and for Langfuse's own (its timestamps do not move). Only a foreign writer that
moved a trace to another day without a tombstone would show it twice. ClickHouse reads the
non-overlapping (merged) ranges of FINAL without merging them.

Not `do_not_merge_across_partitions_select_final`: with it, ClickHouse (26.9 at least) applies
conditions on the partition key's columns before FINAL, and `timestamp` is one
(`toYYYYMM(timestamp)`), so `timestamp >= X` would see an older version of a trace whose timestamp
moved within its day (its sorting key did not change, no tombstone) and not the latest. Measured, the
setting saved nothing here.

Bounded cost. A page ordered by timestamp reads only the newest (oldest) days that hold it: the
number of matching traces per day (one grouped FINAL count, which also gives the total) tells how
far back the page reaches, and the page query is limited to those days, which the sort key skips
to. The page query reads the wide columns (input, output, metadata) only for its own rows: with
`ORDER BY ... LIMIT`, ClickHouse reads the sort columns first and the others lazily
(`query_plan_optimize_lazy_materialization`, on by default). Other orders read every matching row's
sort columns. With a `DayCache`, each day's count is kept while that day's parts of the traces
table are unchanged (exact, see `day_cache`): under live ingestion only today is counted again.
(ClickHouse runs in UTC, as Langfuse requires: the cache's `toDate` days are UTC days.) With only a
`ReadCache`, the counts are kept while the whole table is unchanged.

The structured `filter`'s conditions join P (`trace_filter_sql`); those on figures over the trace's
observations or scores read those tables too (`Predicate.tables`): their counts are then kept only
while every table read is unchanged (`ReadCache`), not per day.

SQL text comes only from constants here (order columns only from `TRACE_ORDER_COLUMNS`); every
value is a bound parameter.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

from langfuse_aio.domain.query_params import OrderBy, Page
from langfuse_aio.domain.trace_filters import TRACE_ORDER_COLUMNS, TraceFilter
from langfuse_aio.storage.clickhouse.base import ClickHouse, Row
from langfuse_aio.storage.clickhouse.day_cache import DayCache
from langfuse_aio.storage.clickhouse.read_cache import ReadCache
from langfuse_aio.storage.clickhouse.trace_filter_sql import trace_condition

TRACE_WINDOW = timedelta(hours=1)  # observations/scores up to this long before their trace's timestamp
_LATEST = "ORDER BY event_ts DESC, is_deleted ASC LIMIT 1 BY id"
_LIVE_FINAL = "FROM traces FINAL WHERE project_id = {project_id:String} AND is_deleted = 0"
_TS = "DateTime64(3)"
T = TypeVar("T")
DayCounts = tuple[tuple[date, int], ...]


@dataclass(frozen=True, slots=True)
class Predicate:
    project_id: str
    conditions: tuple[str, ...]
    params: dict[str, Any]
    columns: tuple[str, ...] = ()  # the columns the conditions read
    tables: tuple[str, ...] = ("traces",)  # the tables the conditions read

    @property
    def sql(self) -> str:
        return "".join(f" AND {c}" for c in self.conditions)

    def also(self, condition: str, **params: Any) -> Predicate:
        return Predicate(self.project_id, (*self.conditions, condition), {**self.params, **params}, self.columns,
                         self.tables)


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
    tables = ["traces"]
    for condition in flt.conditions:
        sql, reads = trace_condition(condition)
        conds.append(sql.text)
        params.update(sql.params)
        tables.extend(t for t in reads if t not in tables)
    return Predicate(project_id, tuple(conds), params, tuple(columns), tuple(tables))


def _order_sql(order: OrderBy) -> str:
    if order.column not in TRACE_ORDER_COLUMNS.values():
        raise ValueError(f"cannot order traces by {order.column!r}")
    direction = "DESC" if order.descending else "ASC"
    return f"ORDER BY {order.column} {direction}, id {direction}"


def latest_sql(p: Predicate, candidates: str, columns: str = "*") -> str:
    """Latest live versions of the candidate ids that satisfy P (exact for any writer)."""
    return (
        f"SELECT {columns} FROM (SELECT {columns} FROM traces WHERE project_id = {{project_id:String}}{candidates}"
        f" {_LATEST}) WHERE is_deleted = 0{p.sql}"
    )


# --- counts per day, and the page --------------------------------------------------------------


async def day_counts(ch: ClickHouse, p: Predicate) -> DayCounts:
    """Live traces matching P per UTC day of their timestamp, oldest day first."""
    rows = await ch.query(
        f"SELECT toDate(timestamp, 'UTC') AS day, count() AS n {_LIVE_FINAL}{p.sql} GROUP BY day ORDER BY day",
        p.params,
    )
    return tuple((r["day"], int(r["n"])) for r in rows)


def _window(days: DayCounts, want: int, order: OrderBy) -> tuple[str, datetime] | None:
    """A timestamp bound that keeps the first `want` rows of a timestamp order and as few days as
    possible (the edge days whose counts add up to `want`); None when every day is needed."""
    if order.column != "timestamp":
        return None
    ordered = reversed(days) if order.descending else iter(days)
    seen = 0
    for day, n in ordered:
        seen += n
        if seen >= want:
            if order.descending:
                return f"timestamp >= {{window:{_TS}}}", datetime.combine(day, time(), tzinfo=UTC)
            return f"timestamp < {{window:{_TS}}}", datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)
    return None


async def _page_rows(
    ch: ClickHouse, p: Predicate, order: OrderBy, page: Page, window: tuple[str, datetime] | None
) -> list[Row]:
    scope = p if window is None else p.also(window[0], window=window[1])
    return await ch.query(
        f"SELECT * {_LIVE_FINAL}{scope.sql} {_order_sql(order)} LIMIT {{take:UInt32}} OFFSET {{skip:UInt64}}",
        {**scope.params, "take": page.limit, "skip": page.offset},
    )


async def cached_day_counts(
    ch: ClickHouse, p: Predicate, key: Hashable, cache: DayCache[Any], flt: TraceFilter
) -> DayCounts:
    """`day_counts`, each day's count reused while that day's parts are unchanged (only the days
    of the filter's time range, if it has one)."""
    between = None
    if flt.from_timestamp is not None or flt.to_timestamp is not None:
        between = (flt.from_timestamp.astimezone(UTC).date() if flt.from_timestamp else date.min,
                   flt.to_timestamp.astimezone(UTC).date() if flt.to_timestamp else date.max)

    async def of_days(days: list[date]) -> dict[date, int]:
        rows = await ch.query(
            f"SELECT toDate(timestamp) AS day, count() AS n {_LIVE_FINAL}{p.sql}"
            " AND toDate(timestamp) IN {count_days:Array(Date)} GROUP BY day",
            {**p.params, "count_days": days},
        )
        return {r["day"]: int(r["n"]) for r in rows}

    counts = await cache.per_day(ch, ("traces",), key, of_days, between=between, empty=0)
    return tuple((day, n) for day, n in sorted(counts.items()) if n)


async def list_page_with_total(
    ch: ClickHouse, flt: TraceFilter, order: OrderBy, page: Page, project_id: str, *,
    cache: ReadCache | None = None, days_cache: DayCache[Any] | None = None,
) -> tuple[list[Row], int]:
    """The page's full trace rows in order, and the number of matching traces.

    The per-day counts come from `days_cache` per unchanged day, else from `cache` while the
    traces table is unchanged."""
    p = predicate(project_id, flt)
    key = ("trace-days", project_id, flt)
    if days_cache is not None and p.tables == ("traces",):
        days = await cached_day_counts(ch, p, key, days_cache, flt)
    else:  # conditions on observations or scores: a day's count can change with another day's rows
        days = await _cached(ch, cache, p.tables, key, lambda: day_counts(ch, p))
    total = sum(n for _, n in days)
    if page.offset >= total:
        return [], total
    window = _window(days, page.offset + page.limit, order)
    rows = await _page_rows(ch, p, order, page, window)
    if window is not None and len(rows) < min(page.limit, total - page.offset):
        rows = await _page_rows(ch, p, order, page, None)  # rows left the window since the counts
    return rows, total


async def _cached(
    ch: ClickHouse, cache: ReadCache | None, tables: tuple[str, ...], key: Hashable, compute: Callable[[], Awaitable[T]]
) -> T:
    if cache is None:
        return await compute()
    return await cache.get(ch, tables, key, compute)

