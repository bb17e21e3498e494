"""ClickHouse row builders for tests that seed traces, observations and scores directly.

Each builder returns a complete row of its table with neutral values; keyword overrides replace
any column. `insert_each` inserts one row per call, so versions land in separate parts and reads
must deduplicate by themselves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from langfuse_aio.storage.clickhouse.base import ClickHouse, Row

T0 = datetime(2024, 11, 5, 10, 11, 12, 345000, tzinfo=UTC)
DAY = timedelta(days=1)


def ts(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def trace(project_id: str, trace_id: str, **overrides: Any) -> Row:
    row: Row = {
        "id": trace_id, "timestamp": T0, "name": "t", "user_id": None, "metadata": {}, "release": None,
        "version": None, "project_id": project_id, "public": False, "bookmarked": False, "tags": [],
        "input": None, "output": None, "session_id": None, "created_at": T0, "updated_at": T0,
        "event_ts": T0, "is_deleted": 0,
    }
    return row | overrides


def observation(project_id: str, obs_id: str, trace_id: str, **overrides: Any) -> Row:
    row: Row = {
        "id": obs_id, "trace_id": trace_id, "project_id": project_id, "type": "SPAN",
        "parent_observation_id": None, "start_time": T0, "end_time": None, "name": "o", "metadata": {},
        "level": "DEFAULT", "status_message": None, "version": None, "input": None, "output": None,
        "provided_model_name": None, "internal_model_id": None, "model_parameters": None,
        "provided_usage_details": {}, "usage_details": {}, "provided_cost_details": {}, "cost_details": {},
        "total_cost": None, "completion_start_time": None, "prompt_id": None, "prompt_name": None,
        "prompt_version": None, "created_at": T0, "updated_at": T0, "event_ts": T0, "is_deleted": 0,
    }
    return row | overrides


def score(project_id: str, score_id: str, trace_id: str, **overrides: Any) -> Row:
    row: Row = {
        "id": score_id, "timestamp": T0, "project_id": project_id, "trace_id": trace_id, "observation_id": None,
        "name": "quality", "value": 1.0, "source": "API", "comment": None, "author_user_id": None,
        "config_id": None, "data_type": "NUMERIC", "string_value": None, "queue_id": None, "created_at": T0,
        "updated_at": T0, "event_ts": T0, "is_deleted": 0,
    }
    return row | overrides


def tombstone(row: Row, event_ts: datetime) -> Row:
    return row | {"is_deleted": 1, "event_ts": event_ts}


async def insert_each(ch: ClickHouse, table: str, *rows: Row) -> None:
    for row in rows:  # one insert per version: separate parts, no merge
        await ch.insert(table, [row])
