"""Rows of the merged entity: the folded columns finished per table (§3.4, §3.5 Case 1, §5.2); pure.

Also the part of each table's ClickHouse sorting key that can change for one id, which decides whether
the old version needs a tombstone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any, Final

from langfuse_aio.domain.metadata import MISSING, js_truthy, stringify
from langfuse_aio.domain.provided_usage import provided_costs, usage_details
from langfuse_aio.domain.records import Record, to_ms


def _pick_io(records: list[Record], name: str, held: Any) -> str | None:
    """HEAD: the last truthy input/output; else the current row's; else the last non-null one."""
    last_truthy: Any = MISSING
    last_set: Any = MISSING
    for record in records:
        value = getattr(record, name)
        if value is not None:
            last_set = value
            if js_truthy(value):
                last_truthy = value
    if last_truthy is not MISSING:
        return stringify(last_truthy)
    if held is not None:
        return str(held)
    return None if last_set is MISSING else stringify(last_set)


def _held(current: Mapping[str, Any] | None, column: str) -> Any:
    return None if current is None else current.get(column)


def _trace_row(m: dict[str, Any], current: Mapping[str, Any] | None, records: list[Record],
               common: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": common["id"], "timestamp": m["timestamp"], "name": m.get("name") or "",
        "user_id": m.get("user_id"), "metadata": m["metadata"], "release": m.get("release"),
        "version": m.get("version"), "project_id": common["project_id"], "environment": m["environment"],
        "public": bool(m.get("public")), "bookmarked": bool(m.get("bookmarked")), "tags": m["tags"],
        "input": _pick_io(records, "input", _held(current, "input")),
        "output": _pick_io(records, "output", _held(current, "output")),
        "session_id": m.get("session_id"), "created_at": common["created_at"],
        "updated_at": common["updated_at"], "event_ts": None, "is_deleted": 0,
    }


def _observation_row(m: dict[str, Any], current: Mapping[str, Any] | None, records: list[Record],
                     common: dict[str, Any]) -> dict[str, Any]:
    start_time: datetime = m["start_time"]
    end_time = m.get("end_time")
    if end_time is not None and end_time < start_time:
        end_time = start_time
    provided_usage, usage = usage_details(m.get("provided_usage_details") or {})
    provided_cost = dict(m.get("provided_cost_details") or {})
    cost, total_cost = provided_costs(provided_cost)
    return {
        "id": common["id"], "trace_id": m["trace_id"], "project_id": common["project_id"],
        "environment": m["environment"], "type": m["type"],
        "parent_observation_id": m.get("parent_observation_id"), "start_time": start_time,
        "end_time": end_time, "name": m.get("name") or "", "metadata": m["metadata"],
        "level": m.get("level") or "DEFAULT", "status_message": m.get("status_message"),
        "version": m.get("version"),
        "input": _pick_io(records, "input", _held(current, "input")),
        "output": _pick_io(records, "output", _held(current, "output")),
        "provided_model_name": m.get("provided_model_name"), "internal_model_id": m.get("internal_model_id"),
        "model_parameters": m.get("model_parameters"), "provided_usage_details": provided_usage,
        "usage_details": usage, "provided_cost_details": provided_cost, "cost_details": cost,
        "total_cost": total_cost, "completion_start_time": m.get("completion_start_time"),
        "prompt_id": m.get("prompt_id"), "prompt_name": m.get("prompt_name"),
        "prompt_version": m.get("prompt_version"), "created_at": common["created_at"],
        "updated_at": common["updated_at"], "event_ts": None, "is_deleted": 0,
    }


def _score_row(m: dict[str, Any], current: Mapping[str, Any] | None, records: list[Record],
               common: dict[str, Any]) -> dict[str, Any]:
    value = m.get("value")
    return {
        "id": common["id"], "timestamp": m["timestamp"], "project_id": common["project_id"],
        "environment": m["environment"], "trace_id": m["trace_id"], "session_id": m.get("session_id"),
        "observation_id": m.get("observation_id"), "metadata": m.get("metadata") or {},
        "name": m.get("name") or "",
        # CATEGORICAL without a config has no numeric value; the column is non-nullable Float64
        "value": 0.0 if value is None else float(value),
        "source": m.get("source") or "API", "comment": m.get("comment"),
        "author_user_id": m.get("author_user_id"), "config_id": m.get("config_id"),
        "data_type": m.get("data_type") or "NUMERIC", "string_value": m.get("string_value"),
        "queue_id": m.get("queue_id"), "created_at": common["created_at"],
        "updated_at": common["updated_at"], "event_ts": None, "is_deleted": 0,
    }


ROW_BUILDERS: Final[dict[str, Callable[[dict[str, Any], Mapping[str, Any] | None, list[Record], dict[str, Any]],
                                    dict[str, Any]]]] = {
    "trace": _trace_row, "observation": _observation_row, "score": _score_row,
}


def _day(value: Any) -> date | None:
    return to_ms(value).date() if isinstance(value, datetime) else None


def sort_key(entity_type: str, row: Mapping[str, Any]) -> tuple[Any, ...]:
    """The part of the table's ORDER BY that can change for one (project_id, id)."""
    if entity_type == "trace":
        return (_day(row.get("timestamp")),)
    if entity_type == "observation":
        return (row.get("type"), _day(row.get("start_time")))
    return (_day(row.get("timestamp")), row.get("name"))
