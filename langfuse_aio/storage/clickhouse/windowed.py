"""Newest-first pages of a table's latest live rows, read through day windows, exact for any writer.

`Source` describes the rows: a table whose sorting key starts `(project_id, toDate(<ts>), …)`, and
P, conditions on a row of it (alias `s`). The page order is `<ts> DESC, id DESC`.

Correctness. Filters apply to each row's latest version (`repositories` docstring): rows of any
version matching P name candidate ids; all versions of those ids are deduplicated (`LIMIT 1 BY
id`), tombstones dropped and P checked again on the survivor. An id whose latest live version
matches P has a live matching row, so it is always a candidate.

Bounded cost. `newest_first` reads the first `m` live rows matching P in page order, deduplicates
just those ids, and keeps the survivors ranked at or before the m-th row (the boundary): an id
outside those rows has every matching row after the boundary, so the kept survivors are exactly the
head of the true order. When they are too few, `m` grows x4 up to
`MAX_WINDOW`, past which all candidates are deduplicated. The first reads are limited to a time
window (the newest day with a matching row, then a week, then a month): a top-N read of a day
skips the other days' granules through the sort key. Rows outside the window sort after every row
in it, so a survivor inside the window is again exactly placed. The `m` rows are read in full with
`ORDER BY … LIMIT`, which reads their wide columns only (lazy materialization); deduplicating then
needs only each candidate's latest (event_ts, is_deleted), and a full read again only for ids whose
latest version is not among those rows.

SQL text comes only from the caller's constants; every value is a bound parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from clickhouse_connect.driver.binding import quote_identifier

from langfuse_aio.storage.clickhouse.base import ClickHouse, Row

MAX_WINDOW = 8_192  # candidate ids go back to ClickHouse as a bound array
_DAY_WINDOWS = (0, 6, 29)  # days before the newest matching day: 1 day, a week, a month
_LATEST = "ORDER BY event_ts DESC, is_deleted ASC LIMIT 1 BY id"
_TS = "DateTime64(3, 'UTC')"


@dataclass(frozen=True, slots=True)
class Source:
    table: str  # from the caller's constants only
    ts: str  # the timestamp column of the sort key's day
    conditions: tuple[str, ...]  # P, on alias `s`
    params: Mapping[str, Any] = field(default_factory=dict)  # must hold project_id
    narrow: str = ""  # ` AND …` on unaliased rows, true for every version of a candidate (e.g. its id)

    @property
    def p(self) -> str:
        return "".join(f" AND {c}" for c in self.conditions)

    @property
    def order(self) -> str:
        return f"ORDER BY s.{self.ts} DESC, s.id DESC"

    @property
    def table_sql(self) -> str:
        return quote_identifier(self.table)

    def latest(self, candidates: str, columns: str = "*") -> str:
        """Latest live versions of the candidate ids that satisfy P."""
        return (
            f"SELECT s.{columns} FROM (SELECT {columns} FROM {self.table_sql} WHERE project_id = {{project_id:String}}"
            f"{self.narrow}{candidates} {_LATEST}) AS s WHERE s.is_deleted = 0{self.p}"
        )


async def edge_day(ch: ClickHouse, src: Source) -> date | None:
    """The newest day with a live row matching P: a top-1 read in sort-key order."""
    rows = await ch.query(
        f"SELECT toDate(s.{src.ts}) AS day FROM {src.table_sql} AS s WHERE s.project_id = {{project_id:String}}"
        f" AND s.is_deleted = 0{src.p} ORDER BY day DESC LIMIT 1",
        dict(src.params),
    )
    return rows[0]["day"] if rows else None


async def _latest_versions(ch: ClickHouse, src: Source, ids: list[str]) -> dict[str, tuple[Any, int]]:
    """(event_ts, is_deleted) of each id's latest version (narrow columns only)."""
    rows = await ch.query(
        f"SELECT id, event_ts, is_deleted FROM {src.table_sql} WHERE project_id = {{project_id:String}}{src.narrow}"
        f" AND id IN {{ids:Array(String)}} {_LATEST}",
        {**src.params, "ids": ids},
    )
    return {str(r["id"]): (r["event_ts"], int(r["is_deleted"])) for r in rows}


async def _head(ch: ClickHouse, src: Source, window: datetime | None, m: int) -> tuple[list[Row], bool]:
    """The head of the true order (full rows) that the first `m` matching rows (in `window`) decide,
    and whether those rows filled `m` (else every matching row in the window was read).

    The `m` rows are read in full (their wide columns only, lazily); a row that is its id's latest
    live version is kept as it is, and only ids whose latest version is another row are read again
    (deduplicated, P checked on the survivor)."""
    params: dict[str, Any] = {**src.params, "m": m}
    in_window = ""
    if window is not None:
        in_window = f" AND s.{src.ts} >= {{window:{_TS}}}"
        params["window"] = window
    raw = await ch.query(
        f"SELECT s.* FROM {src.table_sql} AS s WHERE s.project_id = {{project_id:String}}"
        f" AND s.is_deleted = 0{src.p}{in_window} {src.order} LIMIT {{m:UInt32}}",
        params,
    )
    if not raw:
        return [], False
    ids = list(dict.fromkeys(str(r["id"]) for r in raw))
    latest = await _latest_versions(ch, src, ids)
    rows: dict[str, Row] = {}
    for row in raw:
        if latest.get(str(row["id"])) == (row["event_ts"], 0):
            rows.setdefault(str(row["id"]), row)
    moved = [i for i in ids if i not in rows and latest.get(i, (None, 1))[1] == 0]
    if moved:  # the latest version is not among the rows read: read it, and keep it if it matches P
        params["ids"] = moved
        rows.update((str(r["id"]), r) for r in await ch.query(
            src.latest(" AND id IN {ids:Array(String)}"), params))
    ordered = sorted(rows.values(), key=lambda r: (r[src.ts], str(r["id"])), reverse=True)
    full = len(raw) == m
    if full:
        boundary = (raw[-1][src.ts], str(raw[-1]["id"]))
        ordered = [r for r in ordered if (r[src.ts], str(r["id"])) >= boundary]
    elif window is not None:
        ordered = [r for r in ordered if r[src.ts] >= window]
    return ordered, full


def _windows(edge: date) -> list[datetime | None]:
    anchor = datetime.combine(edge, time(), tzinfo=UTC)
    return [*(anchor - timedelta(days=days) for days in _DAY_WINDOWS), None]


async def newest_first(ch: ClickHouse, src: Source, *, skip: int, take: int, edge: date | None) -> list[Row]:
    """Full rows `skip`..`skip + take` of the latest live rows matching P, newest first.

    `edge` is `edge_day(ch, src)` (None: nothing matches)."""
    if edge is None:
        return []
    want = skip + take
    m = 2 * want + 20
    for window in _windows(edge):
        while m <= MAX_WINDOW:
            rows, full = await _head(ch, src, window, m)
            if len(rows) >= want or (not full and window is None):
                return rows[skip:want]
            if not full:
                break  # the window is exhausted: widen it
            m *= 4
        if m > MAX_WINDOW:
            break
    candidates = (
        f" AND id IN (SELECT s.id FROM {src.table_sql} AS s WHERE s.project_id = {{project_id:String}}{src.p})"
        if src.conditions else ""
    )
    return await ch.query(
        f"{src.latest(candidates)} {src.order} LIMIT {{take:UInt32}} OFFSET {{skip:UInt64}}",
        {**src.params, "take": take, "skip": skip},
    )
