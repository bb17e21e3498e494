"""The trace list filtered by userId (and optionally a time range), ordered by timestamp, from
`trace_user_index` (migration 0007) instead of a FINAL over every trace of the project. Only once
the index is complete (`read_index_state`: its backfill of older rows has ended); before, the
route reads `trace_queries`.

The index holds `(project_id, user_id, day, id)` of every trace version with a user, fed by a
materialized view on `traces`, deduplicated like `traces` (`FINAL`, `is_deleted`). For a trace
this server wrote, its current version (user U, day D) is the live FINAL row under (U, D, id) in
the index, with the same timestamp. What the index can hold besides: the key of a trace whose user
changed within its day (no tombstone is written there, the sorting key of `traces` did not move)
and of a trace removed by a lightweight DELETE. Such an entry is *stale*.

Which days have stale entries is exact and cheap to tell: on day D, live index entries (all users)
minus live traces with a user (`traces FINAL`) is the number of stale entries, because every live
trace with a user has exactly one live entry. Both counts are per day, so a `DayCache` keeps them
while the day's parts of both tables are unchanged (under live ingestion only today is counted
again). On a day with stale entries the user's candidates are verified against `traces` (their
latest version on that day, as FINAL would pick it: user and liveness); every other day's entries
are taken as they are. Totals and pages are then exact under the same condition as every FINAL
read here (see `trace_queries`).

On a day without stale entries, the live FINAL row of the index is the trace's current version,
all columns included; on other days, so is the row of every verified id. So the page's rows come
from the index itself, where one user's rows are contiguous.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from langfuse_aio.domain.query_params import OrderBy, Page
from langfuse_aio.domain.trace_filters import TraceFilter
from langfuse_aio.storage.clickhouse.base import ClickHouse, Row
from langfuse_aio.storage.clickhouse.day_cache import DayCache
from langfuse_aio.storage.clickhouse.trace_queries import Predicate, predicate

Balance = tuple[int, int]  # (live index entries, live traces with a user) of one day

_INDEX = "FROM trace_user_index FINAL WHERE project_id = {project_id:String} AND is_deleted = 0"
_ONLY_USER = TraceFilter()


def applies(flt: TraceFilter, order: OrderBy) -> bool:
    """The index answers a userId filter with at most a time range (no structured `filter`), ordered by
    timestamp."""
    if flt.user_id is None or order.column != "timestamp" or flt.conditions:
        return False
    return (flt.name, flt.session_id, flt.version, flt.release, flt.tags, flt.environments) == (
        _ONLY_USER.name, _ONLY_USER.session_id, _ONLY_USER.version, _ONLY_USER.release, _ONLY_USER.tags,
        _ONLY_USER.environments)


async def _balances(ch: ClickHouse, project_id: str, days: list[date]) -> dict[date, Balance]:
    params = {"project_id": project_id, "days": days}
    entries = await ch.query(
        f"SELECT toDate(timestamp) AS day, count() AS n {_INDEX} AND toDate(timestamp) IN {{days:Array(Date)}}"
        " GROUP BY day", params)
    traces = await ch.query(
        "SELECT toDate(timestamp) AS day, count() AS n FROM traces FINAL WHERE project_id = {project_id:String}"
        " AND is_deleted = 0 AND user_id IS NOT NULL AND toDate(timestamp) IN {days:Array(Date)} GROUP BY day",
        params)
    index_n = {r["day"]: int(r["n"]) for r in entries}
    trace_n = {r["day"]: int(r["n"]) for r in traces}
    return {day: (index_n.get(day, 0), trace_n.get(day, 0)) for day in set(index_n) | set(trace_n)}


async def stale_days(ch: ClickHouse, project_id: str, days: Sequence[date], cache: DayCache[Any]) -> set[date]:
    """Those of `days` on which the index holds entries that are not a live trace's current version."""
    balances = await cache.per_day(
        ch, ("traces", "trace_user_index"), ("user-index-balance", project_id),
        lambda wanted: _balances(ch, project_id, wanted), days=days, empty=(0, 0),
    )
    return {day for day, (entries, traces) in balances.items() if entries != traces}


async def _verified(ch: ClickHouse, p: Predicate, days: list[date]) -> tuple[dict[date, int], set[str]]:
    """On `days` (with stale entries): the user's verified count per day, and the stale ids."""
    candidates = await ch.query(
        f"SELECT id {_INDEX}{p.sql} AND toDate(timestamp) IN {{days:Array(Date)}}", {**p.params, "days": days})
    ids = [str(r["id"]) for r in candidates]
    if not ids:
        return {}, set()
    current = await ch.query(
        "SELECT id, user_id, toDate(timestamp) AS day, is_deleted FROM (SELECT id, user_id, timestamp, event_ts,"
        " is_deleted FROM traces WHERE project_id = {project_id:String} AND toDate(timestamp) IN {days:Array(Date)}"
        " AND id IN {ids:Array(String)} ORDER BY event_ts DESC, is_deleted ASC LIMIT 1 BY id)",
        {"project_id": p.project_id, "days": days, "ids": ids},
    )
    counts: dict[date, int] = {}
    good: set[str] = set()
    for r in current:
        if not r["is_deleted"] and r["user_id"] == p.params["user_id"]:
            good.add(str(r["id"]))
            counts[r["day"]] = counts.get(r["day"], 0) + 1
    return counts, set(ids) - good


def _page_days(days: dict[date, int], want: int, descending: bool) -> list[date]:
    """The fewest edge days (in page order) whose traces add up to `want`."""
    chosen: list[date] = []
    seen = 0
    for day in sorted(days, reverse=descending):
        if seen >= want:
            break
        if days[day]:
            chosen.append(day)
            seen += days[day]
    return chosen


async def list_by_user(
    ch: ClickHouse, flt: TraceFilter, order: OrderBy, page: Page, project_id: str, *, cache: DayCache[Any]
) -> tuple[list[Row], int]:
    """As `trace_queries.list_page_with_total`, for a filter that `applies`."""
    p = predicate(project_id, flt)
    per_day = {
        r["day"]: int(r["n"])
        for r in await ch.query(f"SELECT toDate(timestamp) AS day, count() AS n {_INDEX}{p.sql} GROUP BY day", p.params)
    }
    stale = sorted(await stale_days(ch, project_id, list(per_day), cache) & per_day.keys())
    removed: set[str] = set()
    if stale:
        verified, removed = await _verified(ch, p, stale)
        per_day.update({day: verified.get(day, 0) for day in stale})
    total = sum(per_day.values())
    if page.offset >= total:
        return [], total
    days = _page_days(per_day, page.offset + page.limit, order.descending)
    direction = "DESC" if order.descending else "ASC"
    rows = await ch.query(
        f"SELECT * {_INDEX}{p.sql} AND toDate(timestamp) IN {{days:Array(Date)}}"
        f" ORDER BY timestamp {direction}, id {direction} LIMIT {{n:UInt64}}",
        {**p.params, "days": days, "n": page.offset + page.limit + len(removed)},
    )
    return [r for r in rows if str(r["id"]) not in removed][page.offset : page.offset + page.limit], total
