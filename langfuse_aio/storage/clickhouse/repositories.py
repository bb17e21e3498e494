"""Reads of traces, observations and scores: always the latest version of each row.

Every table is a `ReplacingMergeTree(event_ts, is_deleted)` whose rows are only ever appended.
Reads pick the latest version per id with `ORDER BY event_ts DESC LIMIT 1 BY id` and drop it
afterwards, in an outer query, when that latest version is a tombstone (`is_deleted = 1`).

Why not `FINAL`: it collapses versions per *sorting key*, and the sorting keys contain
`toDate(timestamp)` (traces, scores), `type` and `toDate(start_time)` (observations) and `name`
(scores). When such a value changes, the new version lands under a new sorting key, and the
worker writes a tombstone (a copy of the old row with `is_deleted = 1` and an event_ts below the
replacement's) under the old one. `FINAL` hides that old key only once the tombstone is there,
and returns both rows for a changed key that has none; `LIMIT 1 BY id` over all versions returns
the replacement in both cases, and needs no merge-time work. On equal event_ts a live row wins
over a tombstone (`is_deleted ASC`), so a tombstone stamped with its replacement's event_ts still
cannot hide it. Filtering `is_deleted = 0` *before* `LIMIT 1 BY` would be wrong: it would surface
the version a tombstone replaced.

Where FINAL is used after all: the list pages and counts of the read API (`trace_queries`,
`score_queries`, `observation_queries`, `metrics_queries`). There every moved row has its
tombstone, because this server's worker writes one whenever a sort-key value changes, so `FINAL`
leaves one live version per id and is much cheaper than deduplicating a whole project. Reads by id
(this module, the worker's current rows) keep `LIMIT 1 BY id`, which is exact for any writer.

A tombstone must carry the project_id, id and (observations, scores) trace_id of the row it
hides, as a copy of that row does: the per-trace lists filter on trace_id before deduplicating.

All SQL uses bound parameters; `project_id` comes first in every filter. Table names come only
from `TABLES`.
"""

from __future__ import annotations

from collections.abc import Sequence

from clickhouse_connect.driver.binding import quote_identifier

from langfuse_aio.storage.clickhouse.base import ClickHouse, Row

TABLES = frozenset({"traces", "observations", "scores"})
IDS_PER_QUERY = 2_000  # keeps the bound id array well under ClickHouse's HTTP URI limit (1 MiB)

_LATEST = "ORDER BY event_ts DESC, is_deleted ASC LIMIT 1 BY id"


def _table(table: str) -> str:
    if table not in TABLES:
        raise ValueError(f"unknown ClickHouse table {table!r}")
    return quote_identifier(table)


def _current_rows_sql(table: str) -> str:
    return (
        f"SELECT * FROM (SELECT * FROM {_table(table)}"
        " WHERE project_id = {project_id:String} AND id IN {ids:Array(String)}"
        f" {_LATEST}) WHERE is_deleted = 0"
    )


async def fetch_current_rows(ch: ClickHouse, table: str, project_id: str, ids: Sequence[str]) -> dict[str, Row]:
    """The latest version of each of `ids` in `table`, keyed by id; ids whose latest version is a
    tombstone, or that have no row, are absent. One query per `IDS_PER_QUERY` distinct ids."""
    wanted = list(dict.fromkeys(ids))
    sql = _current_rows_sql(table)
    found: dict[str, Row] = {}
    for start in range(0, len(wanted), IDS_PER_QUERY):
        rows = await ch.query(sql, {"project_id": project_id, "ids": wanted[start : start + IDS_PER_QUERY]})
        found.update((str(row["id"]), row) for row in rows)
    return found


async def get_trace(ch: ClickHouse, project_id: str, trace_id: str) -> Row | None:
    """The trace's latest version, or None if it does not exist or is deleted."""
    return (await fetch_current_rows(ch, "traces", project_id, [trace_id])).get(trace_id)


async def list_observations_for_trace(ch: ClickHouse, project_id: str, trace_id: str) -> list[Row]:
    """The latest live version of every observation of the trace, by start_time then id."""
    return await ch.query(
        "SELECT * FROM (SELECT * FROM observations"
        " WHERE project_id = {project_id:String} AND trace_id = {trace_id:String}"
        f" {_LATEST}) WHERE is_deleted = 0 ORDER BY start_time ASC, id ASC",
        {"project_id": project_id, "trace_id": trace_id},
    )


async def list_scores_for_trace(ch: ClickHouse, project_id: str, trace_id: str) -> list[Row]:
    """The latest live version of every score of the trace, newest timestamp first (as Langfuse)."""
    return await ch.query(
        "SELECT * FROM (SELECT * FROM scores"
        " WHERE project_id = {project_id:String} AND trace_id = {trace_id:String}"
        f" {_LATEST}) WHERE is_deleted = 0 ORDER BY timestamp DESC, id ASC",
        {"project_id": project_id, "trace_id": trace_id},
    )
