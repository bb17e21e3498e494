"""Reads around single traces: the list page's per-trace figures, one trace in full, a session's traces.

Observations and scores are read from their per-trace copies `observations_by_trace` and
`scores_by_trace` (ClickHouse migration 0009), where a trace's rows are one short range, once those
are complete (see `read_index_state`); from the tables themselves before, whose sort keys scatter a
trace's rows over many granules. Both hold the same columns and versions, so one SQL text serves
either (`read_index_state.per_trace_source` picks it). Everything here keeps Langfuse's window
between a trace and its observations and scores (see `get_trace_detail`). All values are bound
parameters.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal

from langfuse_aio.domain.trace_filters import TraceFilter
from langfuse_aio.domain.trace_views import TraceSummary
from langfuse_aio.storage.clickhouse.base import ClickHouse, Row
from langfuse_aio.storage.clickhouse.read_index_state import per_trace_source
from langfuse_aio.storage.clickhouse.trace_queries import TRACE_WINDOW, latest_sql, predicate

_LATEST = "ORDER BY event_ts DESC, is_deleted ASC LIMIT 1 BY id"


# Every version of the page's observations, to be deduplicated here per (trace_id, id) (a few rows
# per trace), as `LIMIT 1 BY id` over `observations WHERE trace_id IN …` would. Versions from one
# hour before the page's earliest trace on: on the table, that lets the sort key skip days.
_OBSERVATIONS_SQL = (
    "SELECT trace_id, id, start_time, end_time, ifNull(total_cost, cost_details['total']) AS cost, event_ts,"
    " is_deleted FROM {table} WHERE project_id = {{project_id:String}} AND trace_id IN {{trace_ids:Array(String)}}"
    " AND start_time >= {{lower:DateTime64(3)}}"
)
_SCORES_SQL = (  # `renderable`: what the list keeps (a finite value; a CATEGORICAL one with its string)
    "SELECT trace_id, id, timestamp, (data_type IN ('NUMERIC', 'CATEGORICAL', 'BOOLEAN') AND isFinite(value)"
    " AND (data_type != 'CATEGORICAL' OR string_value IS NOT NULL)) AS renderable, event_ts, is_deleted FROM {table}"
    " WHERE project_id = {{project_id:String}} AND trace_id IN {{trace_ids:Array(String)}}"
    " AND timestamp >= {{lower:DateTime64(3)}}"
)


async def trace_summaries(
    ch: ClickHouse, project_id: str, traces: Sequence[Row], *, indexes: frozenset[str]
) -> dict[str, TraceSummary]:
    """Observation and score figures of each trace (Langfuse's one-hour window before the trace),
    through the per-trace copies named in `indexes` (the complete ones), else from the tables."""
    if not traces:
        return {}
    params = {"project_id": project_id, "trace_ids": [str(t["id"]) for t in traces],
              "lower": min(t["timestamp"] for t in traces) - TRACE_WINDOW}
    versions, score_versions = await asyncio.gather(
        ch.query(_OBSERVATIONS_SQL.format(table=per_trace_source("observations", indexes)), params),
        ch.query(_SCORES_SQL.format(table=per_trace_source("scores", indexes)), params))
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


# Every version of the trace's rows, at most a cap of them; the latest of each id is picked here.
# On the tables, `ORDER BY … LIMIT` lets ClickHouse read the wide columns of the returned rows only
# (lazy materialization): cheaper than deduplicating in SQL, which reads them for every row it
# sorts. A copy holds a trace's rows in one range and needs no sort (which would cost ~1.5 ms).
# `{time}` is the table's time column, `{table}` the table or its copy.
_VERSIONS_CAP = 5_000
_TRACE_VERSIONS_CAP = 1_000
_TRACE_VERSIONS = (  # unsorted: ORDER BY … LIMIT 1 costs ~1 ms more than picking here
    "SELECT * FROM traces WHERE project_id = {project_id:String} AND id = {trace_id:String} LIMIT {cap:UInt32}"
)
_TRACE_LATEST = (
    "SELECT * FROM traces WHERE project_id = {project_id:String} AND id = {trace_id:String}"
    " ORDER BY event_ts DESC, is_deleted ASC LIMIT 1"
)
_VERSIONS = (
    "SELECT * FROM {table} WHERE project_id = {{project_id:String}} AND trace_id = {{trace_id:String}}"
    " AND {time} >= {{lower:DateTime64(3)}}{order} LIMIT {{cap:UInt32}}"
)
_DEDUPLICATED = (  # for a trace of more than `_VERSIONS_CAP` versions
    "SELECT * FROM (SELECT * FROM {table} WHERE project_id = {{project_id:String}} AND trace_id = {{trace_id:String}}"
    " AND {time} >= {{lower:DateTime64(3)}} {latest}) WHERE is_deleted = 0"
)
_TIME_COLUMNS = {"observations": "start_time", "scores": "timestamp"}


def latest_live(rows: Sequence[Row]) -> list[Row]:
    """The latest version of each id among `rows` (highest event_ts; a live row wins a tie with a
    tombstone, as `ORDER BY event_ts DESC, is_deleted ASC LIMIT 1 BY id`), tombstones dropped."""
    latest: dict[str, Row] = {}
    for row in rows:
        held = latest.get(row["id"])
        if held is None or (row["event_ts"], -row["is_deleted"]) > (held["event_ts"], -held["is_deleted"]):
            latest[row["id"]] = row
    return [row for row in latest.values() if not row["is_deleted"]]


async def _latest_of_trace(ch: ClickHouse, table: str, indexes: frozenset[str], params: Row) -> list[Row]:
    source, time = per_trace_source(table, indexes), _TIME_COLUMNS[table]
    order = "" if source != table else f" ORDER BY {time}, id"
    rows = await ch.query(_VERSIONS.format(table=source, time=time, order=order), {**params, "cap": _VERSIONS_CAP})
    if len(rows) < _VERSIONS_CAP:
        return latest_live(rows)
    # a very large trace: deduplicate in ClickHouse
    return await ch.query(_DEDUPLICATED.format(table=source, time=time, latest=_LATEST), params)


async def _latest_trace(ch: ClickHouse, params: Row) -> Row | None:
    """The trace's latest version (a tombstone included), or None."""
    versions = await ch.query(_TRACE_VERSIONS, {**params, "cap": _TRACE_VERSIONS_CAP})
    if len(versions) >= _TRACE_VERSIONS_CAP:
        versions = await ch.query(_TRACE_LATEST, params)
    return max(versions, key=lambda r: (r["event_ts"], -r["is_deleted"]), default=None)


async def get_trace_detail(
    ch: ClickHouse, project_id: str, trace_id: str, *, indexes: frozenset[str]
) -> tuple[Row, list[Row], list[Row]] | None:
    """The trace's latest live row, with its observations (by start time) and scores (newest first),
    read from their per-trace copies where `indexes` names those complete.

    Langfuse's window is kept: observations starting at most one hour before the trace's timestamp,
    scores stamped at most one hour before it. It exists for pruning, and it pays: the sort keys
    `(project_id, type, toDate(start_time), id)` and `(project_id, toDate(timestamp), name, id)` skip
    every older day, which for a recent trace (what SDKs and users mostly fetch) is nearly all data.
    What it costs is an observation starting more than an hour before its own trace, which no SDK
    produces; it is left out here as in Langfuse, and also from the trace's figures in the list.
    The copies do not need the window; they keep it so that both paths answer alike."""
    trace = await _latest_trace(ch, {"project_id": project_id, "trace_id": trace_id})
    if trace is None or trace["is_deleted"]:
        return None
    params = {"project_id": project_id, "trace_id": trace_id, "lower": trace["timestamp"] - TRACE_WINDOW}
    observations, scores = await asyncio.gather(  # concurrent on a ClickHouse server; chDB runs one at a time
        _latest_of_trace(ch, "observations", indexes, params), _latest_of_trace(ch, "scores", indexes, params))
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
