"""Reads around single traces: the list page's per-trace figures, one trace in full, a session's traces.

Observations and scores of a list page are aggregated for the page's trace ids only, one query each.
Everything here keeps Langfuse's window between a trace and its observations and scores (see
`get_trace_detail`). All values are bound parameters.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal

from langfuse_aio.domain.trace_filters import TraceFilter
from langfuse_aio.domain.trace_views import TraceSummary
from langfuse_aio.storage.clickhouse.base import ClickHouse, Row
from langfuse_aio.storage.clickhouse.trace_queries import TRACE_WINDOW, latest_sql, predicate

_LATEST = "ORDER BY event_ts DESC, is_deleted ASC LIMIT 1 BY id"

_RENDERABLE_SCORE = (
    "data_type IN ('NUMERIC', 'CATEGORICAL', 'BOOLEAN') AND isFinite(value)"
    " AND (data_type != 'CATEGORICAL' OR string_value IS NOT NULL)"
)
# the trace's timestamp, by position of trace_id in the bound id list
_TRACE_TS = "{timestamps:Array(DateTime64(3))}[indexOf({trace_ids:Array(String)}, trace_id)]"
_OBSERVATIONS_SQL = (
    "SELECT trace_id, arrayMap(x -> x.2, arraySort(groupArray((start_time, id)))) AS ids,"
    " min(start_time) AS min_start, max(start_time) AS max_start, min(end_time) AS min_end,"
    " max(end_time) AS max_end, sum(ifNull(total_cost, cost_details['total'])) AS cost"
    " FROM (SELECT id, trace_id, start_time, end_time, total_cost, cost_details, is_deleted FROM observations"
    " WHERE project_id = {project_id:String} AND trace_id IN {trace_ids:Array(String)}"
    " AND start_time >= {lower:DateTime64(3)} " + _LATEST + ")"
    f" WHERE is_deleted = 0 AND start_time >= {_TRACE_TS} - INTERVAL 1 HOUR GROUP BY trace_id"
)
_SCORES_SQL = (
    "SELECT trace_id, arrayMap(x -> x.2, arraySort(groupArray((-toUnixTimestamp64Milli(timestamp), id)))) AS ids"
    " FROM (SELECT id, trace_id, timestamp, data_type, value, string_value, is_deleted FROM scores"
    " WHERE project_id = {project_id:String} AND trace_id IN {trace_ids:Array(String)}"
    " AND timestamp >= {lower:DateTime64(3)} " + _LATEST + ")"
    f" WHERE is_deleted = 0 AND {_RENDERABLE_SCORE} AND timestamp >= {_TRACE_TS} - INTERVAL 1 HOUR GROUP BY trace_id"
)


async def trace_summaries(ch: ClickHouse, project_id: str, traces: Sequence[Row]) -> dict[str, TraceSummary]:
    """Observation and score figures of each trace (Langfuse's one-hour window before the trace)."""
    if not traces:
        return {}
    params = {
        "project_id": project_id,
        "trace_ids": [str(t["id"]) for t in traces],
        "timestamps": [t["timestamp"] for t in traces],
        "lower": min(t["timestamp"] for t in traces) - TRACE_WINDOW,
    }
    observations, scores = await asyncio.gather(ch.query(_OBSERVATIONS_SQL, params), ch.query(_SCORES_SQL, params))
    score_ids = {str(r["trace_id"]): tuple(r["ids"]) for r in scores}
    summaries = {
        str(r["trace_id"]): TraceSummary(
            observation_ids=tuple(r["ids"]),
            score_ids=score_ids.get(str(r["trace_id"]), ()),
            times=tuple(t for t in (r["min_start"], r["max_start"], r["min_end"], r["max_end"]) if t is not None),
            total_cost=Decimal(r["cost"] or 0),
        )
        for r in observations
    }
    for trace_id, ids in score_ids.items():
        summaries.setdefault(trace_id, TraceSummary(score_ids=ids))
    return summaries


# --- one trace, and the traces of a session -------------------------------------------------------


# Every version of the trace's rows, at most `_VERSIONS_CAP` of them; the latest of each id is picked
# here. `ORDER BY … LIMIT` lets ClickHouse read the wide columns of the returned rows only (lazy
# materialization): cheaper than deduplicating in SQL, which reads them for every row it sorts.
_VERSIONS_CAP = 5_000
_TRACE_VERSIONS = (
    "SELECT * FROM traces WHERE project_id = {project_id:String} AND id = {trace_id:String}"
    " ORDER BY event_ts DESC, is_deleted ASC LIMIT 1"
)
_OBSERVATION_VERSIONS = (
    "SELECT * FROM observations WHERE project_id = {project_id:String} AND trace_id = {trace_id:String}"
    " AND start_time >= {lower:DateTime64(3)} ORDER BY start_time, id LIMIT {cap:UInt32}"
)
_SCORE_VERSIONS = (
    "SELECT * FROM scores WHERE project_id = {project_id:String} AND trace_id = {trace_id:String}"
    " AND timestamp >= {lower:DateTime64(3)} ORDER BY timestamp, id LIMIT {cap:UInt32}"
)


def latest_live(rows: Sequence[Row]) -> list[Row]:
    """The latest version of each id among `rows` (highest event_ts; a live row wins a tie with a
    tombstone, as `ORDER BY event_ts DESC, is_deleted ASC LIMIT 1 BY id`), tombstones dropped."""
    latest: dict[str, Row] = {}
    for row in rows:
        held = latest.get(row["id"])
        if held is None or (row["event_ts"], -row["is_deleted"]) > (held["event_ts"], -held["is_deleted"]):
            latest[row["id"]] = row
    return [row for row in latest.values() if not row["is_deleted"]]


async def _latest_of_trace(ch: ClickHouse, versions_sql: str, deduplicated_sql: str, params: Row) -> list[Row]:
    rows = await ch.query(versions_sql, {**params, "cap": _VERSIONS_CAP})
    if len(rows) < _VERSIONS_CAP:
        return latest_live(rows)
    return await ch.query(deduplicated_sql, params)  # a very large trace: deduplicate in ClickHouse


async def get_trace_detail(ch: ClickHouse, project_id: str, trace_id: str) -> tuple[Row, list[Row], list[Row]] | None:
    """The trace's latest live row, with its observations (by start time) and scores (newest first).

    Langfuse's window is kept: observations starting at most one hour before the trace's timestamp,
    scores stamped at most one hour before it. It exists for pruning, and it pays: the sort keys
    `(project_id, type, toDate(start_time), id)` and `(project_id, toDate(timestamp), name, id)` skip
    every older day, which for a recent trace (what SDKs and users mostly fetch) is nearly all data.
    What it costs is an observation starting more than an hour before its own trace, which no SDK
    produces; it is left out here as in Langfuse, and also from the trace's figures in the list."""
    found = await ch.query(_TRACE_VERSIONS, {"project_id": project_id, "trace_id": trace_id})
    if not found or found[0]["is_deleted"]:
        return None
    trace = found[0]
    params = {"project_id": project_id, "trace_id": trace_id, "lower": trace["timestamp"] - TRACE_WINDOW}
    observations = await _latest_of_trace(
        ch, _OBSERVATION_VERSIONS,
        "SELECT * FROM (SELECT * FROM observations WHERE project_id = {project_id:String}"
        " AND trace_id = {trace_id:String} AND start_time >= {lower:DateTime64(3)}"
        f" {_LATEST}) WHERE is_deleted = 0",
        params,
    )
    scores = await _latest_of_trace(
        ch, _SCORE_VERSIONS,
        "SELECT * FROM (SELECT * FROM scores WHERE project_id = {project_id:String}"
        " AND trace_id = {trace_id:String} AND timestamp >= {lower:DateTime64(3)}"
        f" {_LATEST}) WHERE is_deleted = 0",
        params,
    )
    observations.sort(key=lambda o: (o["start_time"], o["id"]))
    scores.sort(key=lambda s: s["id"])
    scores.sort(key=lambda s: s["timestamp"], reverse=True)  # stable: newest first, then id ascending
    return trace, observations, scores


async def traces_of_session(ch: ClickHouse, project_id: str, session_id: str) -> list[Row]:
    """Every live trace whose latest version belongs to the session, oldest first."""
    p = predicate(project_id, replace(TraceFilter(), session_id=session_id))
    candidates = (
        " AND id IN (SELECT id FROM traces WHERE project_id = {project_id:String} AND session_id = {session_id:String})"
    )
    return await ch.query(f"{latest_sql(p, candidates)} ORDER BY timestamp ASC, id ASC", p.params)
