"""Removing rows for good: ClickHouse lightweight deletes of traces, observations and scores.

`DELETE FROM t WHERE project_id = … AND …` marks every matching row of every version as gone at
once (the `_row_exists` mask), so no older version can resurface and no tombstone is needed; a
merge drops the rows physically later. Both ClickHouse (default `lightweight_deletes_sync = 2`)
and chDB return only once the mask is applied, so a read right after no longer sees the rows.
Each DELETE rewrites parts under new names, which the read cache (`read_cache.py`) notices.

Each table's read index (`INDEXES`: trace_user_index of migration 0007, the per-trace copies of
0009; fed by a materialized view, which a DELETE does not reach) loses the same rows too:
`delete_ids` hides them with tombstones (a copy of the latest version of each index key,
`is_deleted = 1`, 1 ms later: a plain insert, no second mutation while the caller holds entity
locks; a version written later, as late events make, still wins). A tombstone carries none of the
deleted content (`_BLANKED`), so once merges have folded the older versions into it, nothing of
the row is left. `delete_project` deletes index rows asynchronously (`lightweight_deletes_sync = 0`).

Rows are selected by id (chunked by `IDS_PER_QUERY`) rather than by trace_id, so that exactly the
entities whose event files the caller removed lose their rows. `project_id` is first in every filter.
"""

from __future__ import annotations

from collections.abc import Sequence

from clickhouse_connect.driver.binding import quote_identifier

from langfuse_aio.storage.clickhouse.base import ClickHouse
from langfuse_aio.storage.clickhouse.read_index_state import PER_TRACE_COPIES, TRACE_USER_INDEX
from langfuse_aio.storage.clickhouse.repositories import IDS_PER_QUERY, TABLES

INDEXES = {"traces": TRACE_USER_INDEX, **PER_TRACE_COPIES}
_INDEX_KEYS = {"traces": "user_id, toDate(timestamp), id", "observations": "trace_id, id", "scores": "trace_id, id"}
_BLANKED = {  # the content columns a tombstone leaves empty
    "traces": "NULL AS input, NULL AS output, map() AS metadata",
    "observations": "NULL AS input, NULL AS output, map() AS metadata, NULL AS status_message",
    "scores": "NULL AS comment, map() AS metadata, NULL AS string_value",
}
_ASYNC = " SETTINGS lightweight_deletes_sync = 0"


def _table(table: str) -> str:
    if table not in TABLES:
        raise ValueError(f"unknown ClickHouse table {table!r}")
    return quote_identifier(table)


async def ids_of_traces(ch: ClickHouse, table: str, project_id: str, trace_ids: Sequence[str]) -> list[str]:
    """Ids of the observations or scores (`table`) whose latest version belongs to one of `trace_ids`.

    An entity that moved to another trace keeps its rows; a tombstoned latest version still counts,
    so its older versions go too."""
    if table == "traces":
        raise ValueError("ids_of_traces reads observations or scores")
    found: list[str] = []
    for start in range(0, len(trace_ids), IDS_PER_QUERY):
        rows = await ch.query(
            "SELECT id FROM (SELECT id, trace_id FROM"
            f" {_table(table)} WHERE project_id = {{project_id:String}} AND id IN"
            f" (SELECT id FROM {_table(table)} WHERE project_id = {{project_id:String}}"
            " AND trace_id IN {trace_ids:Array(String)})"
            " ORDER BY event_ts DESC, is_deleted ASC LIMIT 1 BY id)"
            " WHERE trace_id IN {trace_ids:Array(String)} ORDER BY id",
            {"project_id": project_id, "trace_ids": list(trace_ids[start : start + IDS_PER_QUERY])},
        )
        found.extend(str(row["id"]) for row in rows)
    return found


async def delete_ids(ch: ClickHouse, table: str, project_id: str, ids: Sequence[str]) -> None:
    """Remove every version of `ids` in `table` (no-op for ids without rows)."""
    wanted = list(dict.fromkeys(ids))
    for start in range(0, len(wanted), IDS_PER_QUERY):
        params = {"project_id": project_id, "ids": wanted[start : start + IDS_PER_QUERY]}
        where = "WHERE project_id = {project_id:String} AND id IN {ids:Array(String)}"
        # A DELETE is a mutation that rewrites parts even when it matches nothing; repeated and
        # concurrent deletions of one trace (each under its entity locks) skip it when no row is left.
        if await ch.query(f"SELECT 1 FROM {_table(table)} {where} LIMIT 1", params):
            await ch.command(f"DELETE FROM {_table(table)} {where}", params)
        index, key = INDEXES[table], _INDEX_KEYS[table]
        await ch.command(
            f"INSERT INTO {quote_identifier(index)} SELECT * REPLACE (event_ts + toIntervalMillisecond(1) AS event_ts,"
            f" 1 AS is_deleted, {_BLANKED[table]}) FROM {quote_identifier(index)}"
            f" WHERE project_id = {{project_id:String}} AND id IN {{ids:Array(String)}}"
            f" ORDER BY event_ts DESC LIMIT 1 BY {key}",
            params,
        )


async def delete_project(ch: ClickHouse, table: str, project_id: str) -> None:
    """Remove every row of the project from `table`."""
    for target, settings in ((_table(table), ""), (quote_identifier(INDEXES[table]), _ASYNC)):
        await ch.command(f"DELETE FROM {target} WHERE project_id = {{project_id:String}}{settings}",
                         {"project_id": project_id})


async def count_project_rows(ch: ClickHouse, table: str, project_id: str) -> int:
    """All rows of the project in `table`, every version and tombstone included."""
    rows = await ch.query(f"SELECT count() AS n FROM {_table(table)} WHERE project_id = {{project_id:String}}",
                          {"project_id": project_id})
    return int(rows[0]["n"]) if rows else 0
