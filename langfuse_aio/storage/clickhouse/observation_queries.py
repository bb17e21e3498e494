"""Filtered, ordered pages of observations (latest live versions), and their count.

Correctness. Filters apply to each observation's *latest* version (`repositories` docstring). A
filter applied before deduplication would return the newest *matching* version even when a newer
version no longer matches, so every query has two steps: (1) rows of any version matching the predicate P name the
candidate ids; (2) all versions of those ids are deduplicated (`LIMIT 1 BY id`), tombstones dropped,
and P is checked again on the survivor. An id whose latest version matches P has a matching row,
so it is always a candidate.

Bounded cost. Deduplicating every candidate of an unfiltered 6M-row project takes seconds; a page
needs far fewer. `page_keys` takes the first `window` matching rows of any version in the page's
order (start_time desc, id desc; a top-N read that skips partitions by start_time), deduplicates
only their ids, and keeps the survivors ranked at or above the window's last row (the threshold).
Any id outside the window has all its matching rows below the threshold, so the kept survivors are
exactly the top of the true order; when they are too few, the window grows (x4) until they suffice,
the rows run out, or the window reaches `MAX_WINDOW`, past which all candidates are deduplicated.
The cursor is part of P, so cursor pages are as cheap as the first. Counting every candidate
exactly would deduplicate all of them (seconds on 6M rows), so `count_observations` reads
`observations FINAL` instead (exact for the rows this server writes: the worker tombstones the old
sorting key when an observation's type or start day changes), kept in a `ReadCache`; a page that is
neither full nor empty tells the total itself. The page's full rows are read
last, by id within the types and start times of their keys (`rows_in_order`): the sort key
narrows the read before the id index does.

One trace. Every version of an observation carries its trace id (it never changes once explicit,
and tombstones copy it), so a filter naming a trace deduplicates that trace's rows only: page and
count come from one read of them (`_trace_page`), in `observations_by_trace` (one short range) once
that copy is complete, else through the trace_id index of `observations`.

The `userId`/`sessionId` filters select trace ids through the traces' latest versions, and so do
the structured `filter`'s conditions on trace columns; its other conditions join P directly
(`observation_filter_sql`), the columns they read carried through deduplication (`Predicate.columns`);
P itself is built in `observation_predicate`.
SQL text comes only from constants here; every value is a bound parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langfuse_aio.storage.clickhouse.base import ClickHouse, Row
from langfuse_aio.storage.clickhouse.observation_predicate import KEY_COLUMNS, LATEST, Predicate
from langfuse_aio.storage.clickhouse.read_cache import ReadCache
from langfuse_aio.storage.clickhouse.repositories import fetch_current_rows

MAX_WINDOW = 200_000
INLINE_IDS = 4_096  # up to this window, candidate ids go back as a bound array (well under URI limits)
_ORDER = "ORDER BY start_time DESC, id DESC"
_OF_TRACE = " AND trace_id = {trace_id:String}"
_AT_OR_ABOVE_THRESHOLD = (
    "start_time >= {threshold_start:DateTime64(3)}"
    " AND (start_time > {threshold_start:DateTime64(3)} OR id >= {threshold_id:String})"
)


def _latest_sql(p: Predicate, candidates: str, table: str = "observations") -> str:
    """Latest live versions of the candidate ids that satisfy P (their sorting-key columns only)."""
    read = ", ".join((KEY_COLUMNS, *p.columns))
    return (
        f"SELECT id, start_time, type FROM (SELECT {read} FROM {table}"
        f" WHERE project_id = {{project_id:String}}{candidates} {LATEST}) WHERE is_deleted = 0{p.sql}"
    )


def _candidates(p: Predicate, *, window: bool) -> str:
    if not p.conditions and not window:
        return ""
    limit = f" {_ORDER} LIMIT {{window:UInt32}}" if window else ""
    return f" AND id IN (SELECT id FROM observations WHERE project_id = {{project_id:String}}{p.sql}{limit})"


async def _window_keys(ch: ClickHouse, p: Predicate, *, want: int, window: int) -> list[Row] | None:
    """The first `want` rows' keys in order if the first `window` matching rows decide them, else None."""
    params: dict[str, Any] = {**p.params, "window": window, "want": want}
    matching = f"SELECT id, start_time FROM observations WHERE project_id = {{project_id:String}}{p.sql} {_ORDER}"
    if window <= INLINE_IDS:  # fetch the window's ids and send them back: cheaper than a subquery
        raw = await ch.query(f"{matching} LIMIT {{window:UInt32}}", params)
        if not raw:
            return []
        params["candidate_ids"] = list(dict.fromkeys(str(r["id"]) for r in raw))
        candidates = " AND id IN {candidate_ids:Array(String)}"
        edge = raw[-1] if len(raw) == window else None
    else:
        params["last"] = window - 1
        edges = await ch.query(f"{matching} LIMIT 1 OFFSET {{last:UInt32}}", params)
        candidates = _candidates(p, window=True)
        edge = edges[0] if edges else None
    sql = _latest_sql(p, candidates)
    if edge is not None:
        sql += f" AND {_AT_OR_ABOVE_THRESHOLD}"
        params.update(threshold_start=edge["start_time"], threshold_id=edge["id"])
    rows = await ch.query(f"{sql} {_ORDER} LIMIT {{want:UInt32}}", params)
    if edge is None or len(rows) >= want:
        return rows
    return None


async def page_keys(ch: ClickHouse, p: Predicate, *, skip: int, take: int) -> list[Row]:
    """Keys (`id`, `start_time`, `type`) of the rows `skip`..`skip + take` (newest start_time first,
    then id desc) that satisfy P."""
    want = skip + take
    window = 2 * want + 20
    while window <= MAX_WINDOW:
        keys = await _window_keys(ch, p, want=want, window=window)
        if keys is not None:
            return keys[skip:]
        window *= 4
    return await ch.query(
        f"{_latest_sql(p, _candidates(p, window=False))} {_ORDER} LIMIT {{take:UInt32}} OFFSET {{skip:UInt64}}",
        {**p.params, "take": take, "skip": skip},
    )


async def count_observations(ch: ClickHouse, p: Predicate, *, cache: ReadCache | None = None) -> int:
    """Observations whose latest live version satisfies P. One trace's are deduplicated exactly;
    otherwise `FINAL` counts them (exact for the rows this server writes, see `trace_queries`), kept
    in `cache` while the tables read are unchanged."""
    if p.trace_id is not None:
        rows = await ch.query(f"SELECT count() AS n FROM ({_latest_sql(p, _OF_TRACE, p.trace_table)})", p.params)
        return int(rows[0]["n"]) if rows else 0

    async def count() -> int:
        rows = await ch.query(
            "SELECT count() AS n FROM observations FINAL WHERE project_id = {project_id:String} AND is_deleted = 0"
            f"{p.sql}",
            p.params,
        )
        return int(rows[0]["n"]) if rows else 0

    if cache is None:
        return await count()
    tables = ("observations", "traces") if p.reads_traces else ("observations",)
    return await cache.get(ch, tables, p.cache_key, count)


async def rows_in_order(ch: ClickHouse, project_id: str, keys: Sequence[Row]) -> list[Row]:
    """Full latest rows of the observations whose latest keys were just read, in that order.

    Their types and start times bound the read through the sort key before the id index does; the
    latest version of each lies there (ids deleted meanwhile are left out)."""
    if not keys:
        return []
    starts = [k["start_time"] for k in keys]
    rows = await ch.query(
        "SELECT * FROM (SELECT * FROM observations WHERE project_id = {project_id:String}"
        " AND type IN {types:Array(String)} AND start_time >= {lo:DateTime64(3)} AND start_time <= {hi:DateTime64(3)}"
        f" AND id IN {{ids:Array(String)}} {LATEST}) WHERE is_deleted = 0",
        {
            "project_id": project_id,
            "types": sorted({str(k["type"]) for k in keys}),
            "lo": min(starts),
            "hi": max(starts),
            "ids": [str(k["id"]) for k in keys],
        },
    )
    found = {str(r["id"]): r for r in rows}
    return [found[str(k["id"])] for k in keys if str(k["id"]) in found]


async def _trace_page(ch: ClickHouse, p: Predicate, *, skip: int, take: int, total: bool) -> tuple[list[Row], int]:
    """The page of a filter naming one trace, in one read of that trace's observations (every version
    of them carries its id), with the count of all matching ones when `total` (else -1)."""
    count = ", count() OVER () AS _total" if total else ""
    rows = await ch.query(
        f"SELECT *{count} FROM (SELECT * FROM {p.trace_table} WHERE project_id = {{project_id:String}}{_OF_TRACE}"
        f" {LATEST}) WHERE is_deleted = 0{p.sql} {_ORDER} LIMIT {{take:UInt32}} OFFSET {{skip:UInt64}}",
        {**p.params, "take": take, "skip": skip},
    )
    if not total:
        return rows, -1
    if not rows:
        return rows, await count_observations(ch, p) if skip else 0
    n = int(rows[0]["_total"])
    for row in rows:
        del row["_total"]
    return rows, n


async def list_page(ch: ClickHouse, p: Predicate, *, skip: int, take: int) -> list[Row]:
    if p.trace_id is not None:
        return (await _trace_page(ch, p, skip=skip, take=take, total=False))[0]
    keys = await page_keys(ch, p, skip=skip, take=take)
    return await rows_in_order(ch, p.project_id, keys)


async def list_page_with_total(
    ch: ClickHouse, p: Predicate, *, skip: int, take: int, cache: ReadCache | None = None
) -> tuple[list[Row], int]:
    """A page and the number of matching observations; a page that is neither full nor empty is the
    last one and tells the total itself."""
    if p.trace_id is not None:
        return await _trace_page(ch, p, skip=skip, take=take, total=True)
    page = await list_page(ch, p, skip=skip, take=take)
    if 0 < len(page) < take or (not page and skip == 0):
        return page, skip + len(page)
    return page, await count_observations(ch, p, cache=cache)


async def get_observation(ch: ClickHouse, project_id: str, observation_id: str) -> Row | None:
    return (await fetch_current_rows(ch, "observations", project_id, [observation_id])).get(observation_id)
