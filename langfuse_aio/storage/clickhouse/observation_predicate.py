"""P, the predicate of an observation list: a filter (and a cursor) as SQL conditions on one
observation row, with their bound parameters (`observation_queries` runs it).

Conditions on the observation's own columns apply to its row; `userId`, `sessionId` and the
structured filter's trace columns select trace ids through the traces' latest live versions.
SQL text comes only from constants and `observation_filter_sql`; every value is a bound parameter.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from langfuse_aio.domain.observation_filters import ObservationFilter
from langfuse_aio.storage.clickhouse.observation_filter_sql import (
    is_trace_column,
    observation_condition,
    trace_side_condition,
)
from langfuse_aio.storage.clickhouse.read_index_state import per_trace_source

LATEST: Final = "ORDER BY event_ts DESC, is_deleted ASC LIMIT 1 BY id"
# the columns P reads, deduplicated together with the sort columns
KEY_COLUMNS: Final = (
    "id, start_time, event_ts, is_deleted, trace_id, type, name, parent_observation_id, version, level, environment"
)
KEY_COLUMN_SET: Final = frozenset(c.strip() for c in KEY_COLUMNS.split(","))
_AFTER_CURSOR = (
    "start_time <= {cursor_start:DateTime64(3)}"
    " AND (start_time < {cursor_start:DateTime64(3)} OR id < {cursor_id:String})"
)

@dataclass(frozen=True, slots=True)
class Predicate:
    conditions: tuple[str, ...]
    params: dict[str, Any]
    trace_id: str | None = None  # the filter names one trace
    reads_traces: bool = False  # a condition reads the traces table (userId, sessionId, trace columns)
    columns: tuple[str, ...] = ()  # columns the conditions read besides `KEY_COLUMNS`
    trace_table: str = "observations"  # where one trace's rows are read (`observations_by_trace` once complete)

    @property
    def project_id(self) -> str:
        return str(self.params["project_id"])

    @property
    def cache_key(self) -> Hashable:
        values = tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in sorted(self.params.items()))
        return ("observations", self.conditions, values)

    @property
    def sql(self) -> str:
        return "".join(f" AND {c}" for c in self.conditions)


def _in_traces(conditions: list[str], columns: list[str]) -> str:
    """The observation's trace's latest live version satisfies all `conditions` (on `columns`)."""
    where = " AND ".join(conditions)
    read = ", ".join(dict.fromkeys(["id", *columns, "is_deleted"]))
    return (
        f"trace_id IN (SELECT id FROM (SELECT {read} FROM traces WHERE project_id = {{project_id:String}}"
        f" AND id IN (SELECT id FROM traces WHERE project_id = {{project_id:String}} AND {where}) {LATEST})"
        f" WHERE is_deleted = 0 AND {where})"
    )


def predicate(
    project_id: str, flt: ObservationFilter, *, after: tuple[datetime, str] | None = None,
    indexes: frozenset[str] = frozenset(),
) -> Predicate:
    """P: the filter (and the cursor's position) as conditions on an observation row; `indexes` are
    the complete read indexes (`read_index_state`)."""
    params: dict[str, Any] = {"project_id": project_id}
    conds = _own_conditions(flt, params)
    trace_conds: list[str] = []
    trace_columns: list[str] = []
    columns: list[str] = []
    for column in ("user_id", "session_id"):
        value = getattr(flt, column)
        if value is not None:
            trace_conds.append(f"{column} = {{{column}:String}}")
            trace_columns.append(column)
            params[column] = value
    for condition in flt.conditions:
        if is_trace_column(condition):
            sql, reads = trace_side_condition(condition)
            trace_conds.append(sql.text)
            trace_columns.extend(reads)
        else:
            sql, reads = observation_condition(condition)
            conds.append(sql.text)
            columns.extend(reads)
        params.update(sql.params)
    if trace_conds:
        conds.append(_in_traces(trace_conds, trace_columns))
    if after is not None:
        conds.append(_AFTER_CURSOR)
        params["cursor_start"], params["cursor_id"] = after
    extra = tuple(c for c in dict.fromkeys(columns) if c not in KEY_COLUMN_SET)
    trace_table = per_trace_source("observations", indexes)
    return Predicate(tuple(conds), params, flt.trace_id or None, bool(trace_conds), extra, trace_table)


def _own_conditions(flt: ObservationFilter, params: dict[str, Any]) -> list[str]:
    """The individual parameters on the observation's own columns (adding their values to `params`)."""
    conds: list[str] = []
    for column in ("type", "name", "trace_id", "parent_observation_id", "version", "level"):
        value = getattr(flt, column)
        if value is not None:
            conds.append(f"{column} = {{{column}:String}}")
            params[column] = value
    if flt.has_parent is not None:
        conds.append("ifNull(parent_observation_id, '') " + ("!=" if flt.has_parent else "=") + " ''")
    if flt.environments:
        conds.append("environment IN {environments:Array(String)}")
        params["environments"] = list(flt.environments)
    if flt.from_start_time is not None:
        conds.append("start_time >= {from_start_time:DateTime64(3)}")
        params["from_start_time"] = flt.from_start_time
    if flt.to_start_time is not None:
        conds.append("start_time < {to_start_time:DateTime64(3)}")
        params["to_start_time"] = flt.to_start_time
    return conds
