"""The pure merge step of the worker (ingestion spec §3.4, §3.5 Case 1, §3.7, §3.8, §5.2).

`merge_entity` turns every stored event of one entity (replayed from the blob store) plus the entity's
current ClickHouse row into the row to insert, and tombstones for versions the new row cannot replace.

Langfuse's algorithm: stable sort by (timestamp, create first); one record per event; fold
[current, *records] where mutable columns take the later value unless absent, metadata deep-merges and
tags union. Deliberate differences (upstream bugs, §3.8 and §3.7):
- immutable columns (`timestamp`/`start_time`, `trace_id`, `environment`) come from the earliest event
  that *explicitly* carries them; a value that was only defaulted (envelope time, no trace id, the
  "default" environment) is replaced once an explicit one arrives. The current row's value is kept only
  when the events cannot explain it (written from data no longer in the blob store). So the row is the
  same whatever order jobs ran in;
- a missing `level` keeps the earlier one (DEFAULT only if nothing set it); `public` changes only when an
  event carries it; `bookmarked` only ever comes from the current row; `config_id` is persisted;
- an observation without any trace id gets `trace_id = ""` (never a random uuid): the empty id cannot
  name a real trace (ids are non-empty), the orphans are easy to find, and a later explicit
  `traceId` replaces it;
- when the ClickHouse sorting key changes (day of timestamp/start_time, observation type, score name),
  the old version gets a tombstone (`is_deleted=1`) and the new row a strictly later `event_ts`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from langfuse_aio.domain.merge_rows import ROW_BUILDERS, sort_key
from langfuse_aio.domain.metadata import merge_metadata
from langfuse_aio.domain.records import (
    DEFAULT_ENVIRONMENT,
    Record,
    StoredEvent,
    load_events,
    observation_record,
    score_record,
    to_ms,
    trace_record,
)
from langfuse_aio.domain.score_inflation import ScoreConfig
from langfuse_aio.domain.unprocessable import UnprocessableEntity

__all__ = ["MergeResult", "ScoreConfig", "UnprocessableEntity", "merge_entity", "sort_key"]

ORPHAN_TRACE_ID: Final = ""
_MS: Final = timedelta(milliseconds=1)

# Mutable columns the fold starts from (the current row's values), per entity type.
_CARRIED: Final[dict[str, tuple[str, ...]]] = {
    "trace": ("name", "user_id", "release", "version", "public", "bookmarked", "session_id"),
    "observation": (
        "type", "parent_observation_id", "end_time", "name", "level", "status_message", "version",
        "provided_model_name", "internal_model_id", "model_parameters", "provided_usage_details",
        "provided_cost_details", "completion_start_time", "prompt_id", "prompt_name", "prompt_version",
    ),
    "score": (
        "observation_id", "name", "value", "source", "comment", "author_user_id", "config_id", "data_type",
        "string_value", "queue_id",
    ),
}
# Immutable columns and their value when nothing (explicit or defaulted) provides one.
_IMMUTABLE: Final[dict[str, dict[str, Any]]] = {
    "trace": {"timestamp": None, "environment": DEFAULT_ENVIRONMENT},
    "observation": {"trace_id": ORPHAN_TRACE_ID, "start_time": None, "environment": DEFAULT_ENVIRONMENT},
    "score": {"timestamp": None, "trace_id": ORPHAN_TRACE_ID, "environment": DEFAULT_ENVIRONMENT},
}


@dataclass(slots=True)
class MergeResult:
    row: dict[str, Any]
    tombstones: list[dict[str, Any]] = field(default_factory=list)
    # (promptName, promptVersion) of the latest observation event naming a prompt; the worker looks it
    # up and sets prompt_id/prompt_name/prompt_version (the row keeps the current row's link meanwhile).
    prompt: tuple[str, int] | None = None


def merge_entity(
    entity_type: str,
    project_id: str,
    entity_id: str,
    events: Sequence[Mapping[str, Any]],
    current: Mapping[str, Any] | None,
    *,
    now: datetime,
    score_configs: Mapping[str, ScoreConfig] | None = None,
) -> MergeResult:
    """Merge all stored events of one entity over its current row (None if there is none).

    `score_configs` maps config id → config for the ids the score events use; None skips config
    validation (the worker passes the configs it found, possibly none). Raises UnprocessableEntity
    for input no retry can fix.
    """
    if entity_type not in _IMMUTABLE:
        raise UnprocessableEntity(f"unknown entity type {entity_type!r}")
    stored = load_events(entity_type, entity_id, events)
    if not stored:
        raise UnprocessableEntity("no stored events to merge")
    live = None if current is None or current.get("is_deleted") else current
    records = _records(entity_type, stored, score_configs)
    merged = _fold(entity_type, live, records)
    for column, fallback in _IMMUTABLE[entity_type].items():
        merged[column] = _immutable(column, fallback, live, records)
    now_ms = to_ms(now)
    created_at = live.get("created_at") if live is not None else None
    common = {
        "project_id": project_id, "id": entity_id,
        "created_at": to_ms(created_at) if isinstance(created_at, datetime) else now_ms,
        "updated_at": now_ms,
    }
    row = ROW_BUILDERS[entity_type](merged, live, records, common)
    result = MergeResult(row)
    if entity_type == "observation":
        result.prompt = next((r.prompt for r in reversed(records) if r.prompt is not None), None)
    _version(entity_type, result, current, live, now_ms)
    return result


def _records(entity_type: str, stored: list[StoredEvent], configs: Mapping[str, ScoreConfig] | None) -> list[Record]:
    if entity_type == "trace":
        return [trace_record(event) for event in stored]
    if entity_type == "observation":
        return [observation_record(event) for event in stored]
    return [score_record(event, configs) for event in stored]


def _fold(entity_type: str, current: Mapping[str, Any] | None, records: list[Record]) -> dict[str, Any]:
    """Mutable columns: the current row, then each record's values in time order (later wins)."""
    merged: dict[str, Any] = {}
    metadata: dict[str, str] = {}
    tags: set[str] = set()
    if current is not None:
        for column in _CARRIED[entity_type]:
            value = current.get(column)
            merged[column] = to_ms(value) if isinstance(value, datetime) else value
        metadata = dict(current.get("metadata") or {})
        tags.update(current.get("tags") or ())
    immutable = _IMMUTABLE[entity_type]
    for record in records:
        for column, value in record.values.items():
            if column in immutable:
                continue
            if column == "metadata":
                metadata = merge_metadata(metadata, value)
            elif column == "tags":
                tags.update(value)
            else:
                merged[column] = value
    merged["metadata"] = metadata
    # JS sorts strings by UTF-16 code units
    merged["tags"] = sorted(tags, key=lambda tag: tag.encode("utf-16-be")) if tags else []
    return merged


def _immutable(column: str, fallback: Any, current: Mapping[str, Any] | None, records: list[Record]) -> Any:
    explicit = [r.values[column] for r in records if column in r.values]
    defaulted = [r.weak[column] for r in records if column in r.weak]
    derived = explicit[0] if explicit else defaulted[0] if defaulted else fallback
    if current is None:
        return derived
    held = current.get(column)
    if isinstance(held, datetime):
        held = to_ms(held)
    if held is None or held == fallback or held in explicit or held in defaulted:
        return derived  # the events explain the current value: derive it again from all of them
    return held


def _version(entity_type: str, result: MergeResult, current: Mapping[str, Any] | None,
             live: Mapping[str, Any] | None, now_ms: datetime) -> None:
    """Set event_ts (now, but always after the current version) and tombstone a moved sorting key."""
    version = now_ms
    previous = None if current is None else current.get("event_ts")
    if isinstance(previous, datetime):
        version = max(version, to_ms(previous) + _MS)
    if live is not None and sort_key(entity_type, live) != sort_key(entity_type, result.row):
        tombstone = dict(live)
        tombstone.update(event_ts=version, is_deleted=1)
        result.tombstones.append(tombstone)
        version += _MS
    result.row["event_ts"] = version
