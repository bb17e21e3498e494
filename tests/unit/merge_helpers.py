"""Builders for stored ingestion events (as the blob store holds them) used by the merge tests."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from langfuse_aio.domain.merge import MergeResult, merge_entity

PROJECT = "proj-1"
NOW = datetime(2026, 11, 28, 15, 0, 0, tzinfo=UTC)
_ids = itertools.count(1)


def at(seconds: float, *, day: datetime = datetime(2026, 11, 28, 14, 0, 0, tzinfo=UTC)) -> str:
    """ISO timestamp `seconds` after 14:00:00Z on the test day (JS millisecond form)."""
    moment = day + timedelta(seconds=seconds)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ts(seconds: float) -> datetime:
    return datetime.fromisoformat(at(seconds))


def event(event_type: str, envelope_ts: str, /, **body: Any) -> dict[str, Any]:
    return {"id": f"evt-{next(_ids)}", "timestamp": envelope_ts, "type": event_type, "body": body}


def merge(entity_type: str, entity_id: str, events: Sequence[Mapping[str, Any]],
          current: Mapping[str, Any] | None = None, /, *, now: datetime = NOW, **kwargs: Any) -> MergeResult:
    return merge_entity(entity_type, PROJECT, entity_id, events, current, now=now, **kwargs)


def without_versions(row: Mapping[str, Any]) -> dict[str, Any]:
    """The row minus the columns that depend on when the merge ran."""
    return {k: v for k, v in row.items() if k not in ("event_ts", "created_at", "updated_at")}
