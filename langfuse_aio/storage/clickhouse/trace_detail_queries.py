"""Reads around single traces: the list page's per-trace figures, one trace in full, a session's traces.

Observations and scores of a list page are aggregated for the page's trace ids only, one query each
(from their per-trace indexes `observation_trace_index` and `score_trace_index` once those are
complete, see `read_index_state`; from the tables themselves before).
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
from langfuse_aio.storage.clickhouse.read_index_state import OBSERVATION_TRACE_INDEX, SCORE_TRACE_INDEX
from langfuse_aio.storage.clickhouse.trace_queries import TRACE_WINDOW, latest_sql, predicate

_LATEST = "ORDER BY event_ts DESC, is_deleted ASC LIMIT 1 BY id"

# Every version of the page's observations from observation_trace_index (migration 0007), ordered
# by (trace_id, id): one small range per trace instead of every observation granule holding one
# of them. Per (trace_id, id) the latest version counts, as `LIMIT 1 BY id` over
# `observations WHERE trace_id IN …` gives; deduplicated here (a few rows per trace), not by FINAL.
_OBSERVATIONS_SQL = (
    "SELECT trace_id, id, start_time, end_time, cost, event_ts, is_deleted FROM observation_trace_index"
    " WHERE project_id = {project_id:String} AND trace_id IN {trace_ids:Array(String)}"
)
_SCORES_SQL = (  # the same from score_trace_index; `renderable` as the list keeps scores
    "SELECT trace_id, id, timestamp, renderable, event_ts, is_deleted FROM score_trace_index"
    " WHERE project_id = {project_id:String} AND trace_id IN {trace_ids:Array(String)}"
)
# The same rows from the tables, while an index is not complete (as the list read before 0007:
# versions from one hour before the page's earliest trace on, which lets the sort keys skip days).
_TABLE_OBSERVATIONS_SQL = (
    "SELECT trace_id, id, start_time, end_time, ifNull(total_cost, cost_details['total']) AS cost, event_ts,"
    " is_deleted FROM observations WHERE project_id = {project_id:String} AND trace_id IN {trace_ids:Array(String)}"
    " AND start_time >= {lower:DateTime64(3)}"
)
_TABLE_SCORES_SQL = (
    "SELECT trace_id, id, timestamp, (data_type IN ('NUMERIC', 'CATEGORICAL', 'BOOLEAN') AND isFinite(value)"
    " AND (data_type != 'CATEGORICAL' OR string_value IS NOT NULL)) AS renderable, event_ts, is_deleted FROM scores"
    " WHERE project_id = {project_id:String} AND trace_id IN {trace_ids:Array(String)}"
    " AND timestamp >= {lower:DateTime64(3)}"
)


async def trace_summaries(
    ch: ClickHouse, project_id: str, traces: Sequence[Row], *, indexes: frozenset[str]
) -> dict[str, TraceSummary]:
    """Observation and score figures of each trace (Langfuse's one-hour window before the trace),
    through the read indexes named in `indexes` (the complete ones), else from the tables."""
    if not traces:
        return {}
    params = {"project_id": project_id, "trace_ids": [str(t["id"]) for t in traces],
              "lower": min(t["timestamp"] for t in traces) - TRACE_WINDOW}
    versions, score_versions = await asyncio.gather(
        ch.query(_OBSERVATIONS_SQL if OBSERVATION_TRACE_INDEX in indexes else _TABLE_OBSERVATIONS_SQL, params),
        ch.query(_SCORES_SQL if SCORE_TRACE_INDEX in indexes else _TABLE_SCORES_SQL, params))
    lower = {str(t["id"]): t["timestamp"] - TRACE_WINDOW for t in traces}
    score_ids: dict[str, tuple[str, ...]] = {}
    for trace_id, rows in _by_trace(score_versions).items():
        live = [r for r in latest_live(rows) if r["renderable"] and r["timestamp"] >= lower[trace_id]]
        live.sort(key=lambda r: r["id"])
        live.sort(key=lambda r: r["timestamp"], reverse=True)  # stable: newest first, then id
        if live:
            score_ids[trace_id] = tuple(str(r["id"]) for r in live)
    by_trace: dict[str, list[Row]] = {}
    for trace_id, rows in _by_trace(versions).items():
        live = [r for r in latest_live(rows) if r["start_time"] >= lower[trace_id]]
        if live:
            by_trace[trace_id] = sorted(live, key=lambda r: (r["start_time"], r["id"]))
    summaries = {trace_id: _summary(rows, score_ids.get(trace_id, ())) for trace_id, rows in by_trace.items()}
    for trace_id, ids in score_ids.items():
        summaries.setdefault(trace_id, TraceSummary(score_ids=ids))
    return summaries


def _by_trace(rows: Sequence[Row]) -> dict[str, list[Row]]:
    grouped: dict[str, list[Row]] = {}
    for row in rows:
        grouped.setdefault(str(row["trace_id"]), []).append(row)
    return grouped


def _summary(observations: Sequence[Row], score_ids: tuple[str, ...]) -> TraceSummary:
    starts = [o["start_time"] for o in observations]
    ends = [o["end_time"] for o in observations if o["end_time"] is not None]
    times = (min(starts), max(starts), *((min(ends), max(ends)) if ends else ()))
    return TraceSummary(
        observation_ids=tuple(str(o["id"]) for o in observations),
        score_ids=score_ids,
        times=times,
        total_cost=sum((Decimal(o["cost"] or 0) for o in observations), Decimal(0)),
    )


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
    observations, scores = await asyncio.gather(  # concurrent on a ClickHouse server; chDB runs one at a time
        _latest_of_trace(
            ch, _OBSERVATION_VERSIONS,
            "SELECT * FROM (SELECT * FROM observations WHERE project_id = {project_id:String}"
            " AND trace_id = {trace_id:String} AND start_time >= {lower:DateTime64(3)}"
            f" {_LATEST}) WHERE is_deleted = 0",
            params,
        ),
        _latest_of_trace(
            ch, _SCORE_VERSIONS,
            "SELECT * FROM (SELECT * FROM scores WHERE project_id = {project_id:String}"
            " AND trace_id = {trace_id:String} AND timestamp >= {lower:DateTime64(3)}"
            f" {_LATEST}) WHERE is_deleted = 0",
            params,
        ),
    )
    return trace, *_ordered(observations, scores)


def _ordered(observations: list[Row], scores: list[Row]) -> tuple[list[Row], list[Row]]:
    observations.sort(key=lambda o: (o["start_time"], o["id"]))
    scores.sort(key=lambda s: s["id"])
    scores.sort(key=lambda s: s["timestamp"], reverse=True)  # stable: newest first, then id ascending
    return observations, scores


async def traces_of_session(ch: ClickHouse, project_id: str, session_id: str) -> list[Row]:
    """Every live trace whose latest version belongs to the session, oldest first."""
    p = predicate(project_id, replace(TraceFilter(), session_id=session_id))
    candidates = (
        " AND id IN (SELECT id FROM traces WHERE project_id = {project_id:String} AND session_id = {session_id:String})"
    )
    return await ch.query(f"{latest_sql(p, candidates)} ORDER BY timestamp ASC, id ASC", p.params)
