"""`scores` rows → the score objects of the v1, v2 and v3 read APIs; pure.

- v1 (`GET /api/public/scores[/{id}]`, v3.0.0 document): `score_to_api`, plus on list items
  `trace: {userId, tags, environment}`. A score whose trace row is missing is still listed (Langfuse
  v3.0.0's inner join dropped it); its trace fields are then null.
- v2 (`GET /api/public/v2/scores[/{id}]`, current document): v1's fields plus `sessionId` and
  `datasetRunId`; `traceId` is null for a session score. List items carry `trace: {userId, tags,
  environment, sessionId}` (null when the score has no trace) unless `fields` leaves it out.
- v3 (`GET /api/public/v3/scores`, current document): the core fields always, `value` typed by
  `dataType` (NUMERIC float, BOOLEAN bool, CATEGORICAL the category string); `details`, `annotation`
  and `subject` groups on request.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import Any

from langfuse_aio.domain.api_views import SCORE_DATA_TYPES, format_datetime, parse_metadata, score_to_api

Row = Mapping[str, Any]


def is_renderable(row: Row) -> bool:
    """Whether the row can be sent as a Score (the lists filter the same way in SQL): a known data type,
    a finite value (JSON has no NaN), and a CATEGORICAL score's string value."""
    if row.get("data_type") not in SCORE_DATA_TYPES or not math.isfinite(float(row.get("value") or 0.0)):
        return False
    return row["data_type"] != "CATEGORICAL" or row.get("string_value") is not None


def _trace_fields(trace: Row | None) -> dict[str, Any]:
    if trace is None:
        return {"userId": None, "tags": None, "environment": None}
    return {
        "userId": trace.get("user_id"),
        "tags": list(trace.get("tags") or []),
        "environment": trace.get("environment") or "default",
    }


def score_v1_list_item(row: Row, trace: Row | None) -> dict[str, Any]:
    return {**score_to_api(row), "trace": _trace_fields(trace)}


def score_v2(row: Row) -> dict[str, Any]:
    return {
        **score_to_api(row),
        "traceId": row.get("trace_id") or None,
        "sessionId": row.get("session_id"),
        "datasetRunId": None,  # not stored by this server
    }


def score_v2_list_item(row: Row, trace: Row | None, *, with_trace: bool) -> dict[str, Any]:
    item = score_v2(row)
    if with_trace:
        item["trace"] = None if not row.get("trace_id") else {
            **_trace_fields(trace), "sessionId": None if trace is None else trace.get("session_id"),
        }
    return item


def _v3_value(row: Row) -> float | bool | str:
    data_type = row["data_type"]
    if data_type == "BOOLEAN":
        return float(row.get("value") or 0.0) == 1.0
    if data_type == "NUMERIC":
        return float(row.get("value") or 0.0)
    return str(row.get("string_value") or "")


def score_subject(row: Row) -> dict[str, Any] | None:
    """What the score is attached to: an observation (with its trace), a trace, or a session."""
    trace_id, observation_id, session_id = row.get("trace_id"), row.get("observation_id"), row.get("session_id")
    if observation_id:
        return {"kind": "observation", "id": observation_id, "traceId": trace_id or None}
    if trace_id:
        return {"kind": "trace", "id": trace_id}
    if session_id:
        return {"kind": "session", "id": session_id}
    return None


def score_v3(row: Row, fields: Collection[str] = ()) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": row["id"],
        "projectId": row["project_id"],
        "name": row["name"],
        "dataType": row["data_type"],
        "value": _v3_value(row),
        "source": row["source"],
        "timestamp": format_datetime(row["timestamp"]),
        "environment": row.get("environment") or "default",
        "createdAt": format_datetime(row.get("created_at")),
        "updatedAt": format_datetime(row.get("updated_at")),
    }
    if "details" in fields:
        item.update(comment=row.get("comment"), configId=row.get("config_id"),
                    metadata=parse_metadata(row.get("metadata")))
    if "annotation" in fields:
        item.update(authorUserId=row.get("author_user_id"), queueId=row.get("queue_id"))
    if "subject" in fields:
        item["subject"] = score_subject(row)
    return item
