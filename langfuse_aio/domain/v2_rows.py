"""Langfuse v2 Postgres rows → ClickHouse rows (v2-migration spec §2.6.2); pure.

Used by the background copy (traces, observations, scores) and as the merge baseline for entities that
exist only in v2 Postgres (§2.7), so both paths produce the same row for the same v2 entity.

Input: one row of the SELECTs in `storage.postgres.legacy_rows` — timestamps naive UTC (as Prisma
writes `timestamp(3)`), `numeric` as Decimal, `metadata` parsed JSON, and `input`, `output` and
`model_parameters` as **JSON text** (`jsonb::text`, never parsed in Python: a 1M-row copy would spend
most of its time re-encoding them). Output: dicts in the form the ClickHouse port's insert() takes
(DateTime64 as UTC-aware datetimes, Map columns as dicts, Decimal costs), with every column of our
tables, the later-Langfuse ones too (`environment` = 'default'; scores' `metadata` {} and
`session_id` NULL).

Same as upstream: `event_ts` = trace/score `timestamp`, observation `start_time`, so any live v3
update (event_ts = wall clock) wins over the copy; `is_deleted` 0; NULL `name`/`trace_id` → ""
(orphan observations keep an empty trace_id), NULL score `value` → 0, NULL `tags` → []; token counts
always give `usage_details` {input, output, total} (0 when unused, a negative count 0 as ClickHouse's
null-as-default makes it); `cost_details` / `total_cost` come from the backfilled `calculated_*`
columns, `provided_cost_details` from the user-provided ones; `provided_usage_details` is {}.

Where we consciously differ from upstream, always so that the row reads back through our API the way
the v2 row did and the way a live-ingested one does:
- input/output/model_parameters keep the JSON text of the value, so a JSON string is stored quoted as
  upstream's JSON.stringify does (live ingestion stores raw strings unquoted). Our read API parses the
  text JSON-if-possible, so `"hi"` reads back as "hi" either way, and a v2 string that looks like JSON
  (`"123"`) stays a string instead of turning into 123. The text is Postgres' rendering (`{"a": 1}`,
  a space after `:` and `,`), not JSON.stringify's compact one: the parsed value is identical.
  Falsy JSON values (0, false, "") are kept, not nulled as upstream does; only JSON null → NULL.
- metadata becomes the map live ingestion makes (`normalise_metadata`): a top-level string → {"metadata":
  s}, array → {"metadata": JSON text}, number → {"metadata": "1"} (upstream fails the insert), boolean
  → {}; object values that are not strings become compact JSON text, and a null value becomes "null"
  (ClickHouse's coercion upstream gives ""), which reads back as null, as v2 returned it.
- a NULL cost is left out of `cost_details` / `provided_cost_details` instead of becoming 0 in the map
  (upstream's `{input: 0, output: 0, total: 0}` for every cost-less row): our API then reports
  `calculated*Cost` null, as v2 did and as live ingestion does for an observation without costs. A
  cost that does not fit Decimal64(12) (|x| ≥ 1e6, garbage in v2) is left out rather than failing the
  whole batch. Costs are cut to 12 places here (as the insert would), so a row from `legacy_rows`
  equals the one ClickHouse holds after the copy.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any, Final

from langfuse_aio.domain.metadata import js_json, normalise_metadata
from langfuse_aio.domain.provided_usage import COST_QUANTUM
from langfuse_aio.domain.records import DEFAULT_ENVIRONMENT

Row = dict[str, Any]
V2Row = Mapping[str, Any]

_COST_LIMIT: Final = Decimal(10) ** 6  # Decimal64(12): 18 digits, 6 before the point


def utc(value: datetime | None) -> datetime | None:
    """A Postgres timestamp as an aware UTC datetime (naive values hold UTC, as Prisma writes them)."""
    if value is None or value.tzinfo is UTC:
        return value
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def json_text(text: str | None) -> str | None:
    """`jsonb::text` as stored in an input/output column: JSON null → NULL, anything else kept."""
    if text is None or text == "null":
        return None
    return text


def metadata_map(value: Any) -> dict[str, str]:
    """The metadata jsonb (parsed) as ClickHouse's Map(String, String), as live ingestion builds it."""
    if value is None:
        return {}
    if type(value) is not dict:
        return normalise_metadata(value)
    # normalise_metadata's object case, with the common value types first
    result: dict[str, str] = {}
    for key, item in value.items():
        kind = type(item)
        result[key] = item if kind is str else str(item) if kind is int else js_json(item)
    return result


def _cost(value: Any) -> Decimal | None:
    """A cost as Decimal64(12) holds it, or None when absent or out of its range."""
    if value is None:
        return None
    amount = value if type(value) is Decimal else Decimal(str(value))
    if not amount.is_finite() or not -_COST_LIMIT < amount < _COST_LIMIT:
        return None
    return amount.quantize(COST_QUANTUM, rounding=ROUND_DOWN)


def _costs(input_cost: Any, output_cost: Any, total_cost: Any) -> dict[str, Decimal]:
    if input_cost is None and output_cost is None and total_cost is None:
        return {}
    result: dict[str, Decimal] = {}
    for key, value in (("input", input_cost), ("output", output_cost), ("total", total_cost)):
        amount = _cost(value)
        if amount is not None:
            result[key] = amount
    return result


def _count(value: Any) -> int:
    return value if value is not None and value > 0 else 0


def trace_row(row: V2Row) -> Row:
    timestamp = utc(row["timestamp"])
    return {
        "id": row["id"],
        "timestamp": timestamp,
        "name": row["name"] or "",
        "user_id": row["user_id"],
        "metadata": metadata_map(row["metadata"]),
        "release": row["release"],
        "version": row["version"],
        "project_id": row["project_id"],
        "environment": DEFAULT_ENVIRONMENT,
        "public": bool(row["public"]),
        "bookmarked": bool(row["bookmarked"]),
        "tags": list(row["tags"] or ()),
        "input": json_text(row["input"]),
        "output": json_text(row["output"]),
        "session_id": row["session_id"],
        "created_at": utc(row["created_at"]),
        "updated_at": utc(row["updated_at"]),
        "event_ts": timestamp,
        "is_deleted": 0,
    }


def observation_row(row: V2Row) -> Row:
    start_time = utc(row["start_time"])
    calculated_input, calculated_output = row["calculated_input_cost"], row["calculated_output_cost"]
    calculated_total = row["calculated_total_cost"]
    return {
        "id": row["id"],
        "trace_id": row["trace_id"] or "",
        "project_id": row["project_id"],
        "environment": DEFAULT_ENVIRONMENT,
        "type": row["type"],
        "parent_observation_id": row["parent_observation_id"],
        "start_time": start_time,
        "end_time": utc(row["end_time"]),
        "name": row["name"] or "",
        "metadata": metadata_map(row["metadata"]),
        "level": row["level"] or "DEFAULT",
        "status_message": row["status_message"],
        "version": row["version"],
        "input": json_text(row["input"]),
        "output": json_text(row["output"]),
        "provided_model_name": row["model"],
        "internal_model_id": row["internal_model_id"],
        "model_parameters": json_text(row["model_parameters"]),
        "provided_usage_details": {},
        "usage_details": {
            "input": _count(row["prompt_tokens"]),
            "output": _count(row["completion_tokens"]),
            "total": _count(row["total_tokens"]),
        },
        "provided_cost_details": _costs(row["input_cost"], row["output_cost"], row["total_cost"]),
        "cost_details": _costs(calculated_input, calculated_output, calculated_total),
        "total_cost": None if calculated_total is None else _cost(calculated_total),
        "completion_start_time": utc(row["completion_start_time"]),
        "prompt_id": row["prompt_id"],
        "prompt_name": row["prompt_name"],
        "prompt_version": row["prompt_version"],
        "created_at": utc(row["created_at"]),
        "updated_at": utc(row["updated_at"]),
        "event_ts": start_time,
        "is_deleted": 0,
    }


def score_row(row: V2Row) -> Row:
    timestamp = utc(row["timestamp"])
    value = row["value"]
    return {
        "id": row["id"],
        "timestamp": timestamp,
        "project_id": row["project_id"],
        "environment": DEFAULT_ENVIRONMENT,
        "trace_id": row["trace_id"] or "",
        "session_id": None,
        "observation_id": row["observation_id"],
        "name": row["name"] or "",
        "value": 0.0 if value is None else float(value),
        "source": row["source"],
        "comment": row["comment"],
        "metadata": {},
        "author_user_id": row["author_user_id"],
        "config_id": row["config_id"],
        "data_type": row["data_type"] or "NUMERIC",
        "string_value": row["string_value"],
        "queue_id": row["queue_id"],
        "created_at": utc(row["created_at"]),
        "updated_at": utc(row["updated_at"]),
        "event_ts": timestamp,
        "is_deleted": 0,
    }
