"""`GET /api/public/v2/observations`: field groups, the cursor and the ObservationV2 shape; pure.

Shapes follow today's OpenAPI document (`ObservationV2`, `ObservationsV2Response`):

- `fields` picks groups (comma-separated; default `core,basic`; `core` is always included):

  | group | keys |
  | --- | --- |
  | core | id, traceId, startTime, endTime, projectId, parentObservationId, type |
  | basic | name, level, statusMessage, version, environment, bookmarked, public, userId, sessionId, isRootObservation |
  | time | completionStartTime, createdAt, updatedAt |
  | io | input, output (the stored strings, never parsed) |
  | metadata | metadata (each value the stored string, cut to 200 characters unless `expandMetadata` names its key) |
  | model | providedModelName, internalModelId, modelParameters |
  | usage | usageDetails, costDetails, totalCost, usagePricingTierName |
  | prompt | promptId, promptName, promptVersion |
  | metrics | latency, timeToFirstToken (seconds) |
  | trace_context | tags, release, traceName |

  `modelId`, `inputPrice`, `outputPrice` and `totalPrice` are always present (the document requires
  them) and null unless `model` is asked for; prices are decimal strings (`"0.000005"`). Trace-level
  values (`userId`, `sessionId`, `bookmarked`, `public`, trace_context) come from the trace's row;
  null when the trace does not exist. An unknown group is a 400 naming `fields`.
- `limit` 1..1000 (default 50). The order is `startTime` desc, then `id` desc.
- `meta.cursor` (present only when more rows follow) is opaque: URL-safe base64 of JSON holding the
  last row's start time and id. The next page starts strictly after that (start time, id).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from langfuse_aio.domain import query_params as q
from langfuse_aio.domain.api_views import Prices, Row, format_datetime, parse_json_if_possible
from langfuse_aio.domain.observation_filters import ObservationFilter, parse_v2_filter
from langfuse_aio.domain.query_params import InvalidQueryError, QueryArgs

FIELD_GROUPS = ("core", "basic", "time", "io", "metadata", "model", "usage", "prompt", "metrics", "trace_context")
DEFAULT_GROUPS = frozenset({"core", "basic"})
TRACE_GROUPS = frozenset({"basic", "trace_context"})  # groups that need the trace's row
DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
METADATA_PREVIEW_CHARS = 200


@dataclass(frozen=True, slots=True)
class Cursor:
    start_time: datetime
    id: str


@dataclass(frozen=True, slots=True)
class V2Query:
    filter: ObservationFilter
    limit: int
    groups: frozenset[str]
    expand_metadata: frozenset[str] | None  # None: every key expanded
    cursor: Cursor | None


def parse_fields(args: QueryArgs) -> frozenset[str]:
    names = q.text_list(args, "fields")
    unknown = [name for name in names if name not in FIELD_GROUPS]
    if unknown:
        raise InvalidQueryError("fields", f"unknown field group {unknown[0]!r}; allowed: {', '.join(FIELD_GROUPS)}")
    return frozenset(names) | {"core"} if names else DEFAULT_GROUPS


def parse_expand_metadata(args: QueryArgs) -> frozenset[str] | None:
    """The metadata keys to return whole; None (for `*` or `true`) means every key."""
    keys = q.text_list(args, "expandMetadata")
    return None if "*" in keys or "true" in keys else frozenset(keys)


def encode_cursor(cursor: Cursor) -> str:
    payload = json.dumps({"startTime": format_datetime(cursor.start_time), "id": cursor.id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_cursor(raw: str) -> Cursor:
    """A cursor this endpoint returned; anything else is a 400 naming `cursor`."""
    text = raw.strip().replace("+", "-").replace("/", "_").rstrip("=")
    try:
        data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        start = datetime.fromisoformat(str(data["startTime"]).replace("Z", "+00:00"))
        obs_id = data["id"]
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError):
        raise InvalidQueryError("cursor", "is not a cursor returned by this endpoint") from None
    if not isinstance(obs_id, str) or start.tzinfo is None:
        raise InvalidQueryError("cursor", "is not a cursor returned by this endpoint")
    return Cursor(start.astimezone(UTC), obs_id)


def parse_v2(args: QueryArgs) -> V2Query:
    limit = q.integer(args, "limit", default=DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
    assert limit is not None
    raw_cursor = q.text(args, "cursor")
    return V2Query(
        filter=parse_v2_filter(args),
        limit=limit,
        groups=parse_fields(args),
        expand_metadata=parse_expand_metadata(args),
        cursor=decode_cursor(raw_cursor) if raw_cursor is not None else None,
    )


def price_text(value: Any) -> str | None:
    """A price as a plain decimal string without trailing zeros (`Decimal("5.0E-6")` → "0.000005")."""
    if value is None:
        return None
    number = value if isinstance(value, Decimal) else Decimal(str(value))
    return format(number.normalize(), "f")


def _metadata(metadata: Mapping[str, str] | None, expand: frozenset[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in (metadata or {}).items():
        whole = expand is None or key in expand
        out[str(key)] = value if whole else value[:METADATA_PREVIEW_CHARS]
    return out


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return None if start is None or end is None else (end - start).total_seconds()


def _total_cost(row: Row) -> float | None:
    cost = row.get("total_cost")
    if cost is None:
        cost = (row.get("cost_details") or {}).get("total")
    return None if cost is None else float(cost)


def observation_to_v2(
    row: Row,
    *,
    groups: frozenset[str],
    trace: Row | None = None,
    prices: Prices | None = None,
    expand_metadata: frozenset[str] | None = frozenset(),
) -> dict[str, Any]:
    """An `observations` row as an ObservationV2 with the requested field groups."""
    trace = trace or {}
    parent = row.get("parent_observation_id") or None
    start: datetime = row["start_time"]
    out: dict[str, Any] = {
        "id": row["id"],
        "traceId": row.get("trace_id") or None,
        "startTime": format_datetime(start),
        "endTime": format_datetime(row.get("end_time")),
        "projectId": row["project_id"],
        "parentObservationId": parent,
        "type": row["type"],
        "modelId": None,
        "inputPrice": None,
        "outputPrice": None,
        "totalPrice": None,
    }
    if "basic" in groups:
        out.update(
            name=row.get("name"), level=row.get("level") or "DEFAULT", statusMessage=row.get("status_message"),
            version=row.get("version"), environment=row.get("environment") or "default",
            bookmarked=trace.get("bookmarked"), public=trace.get("public"), userId=trace.get("user_id"),
            sessionId=trace.get("session_id"), isRootObservation=parent is None,
        )
    if "time" in groups:
        out.update(
            completionStartTime=format_datetime(row.get("completion_start_time")),
            createdAt=format_datetime(row.get("created_at")), updatedAt=format_datetime(row.get("updated_at")),
        )
    if "io" in groups:
        out.update(input=row.get("input"), output=row.get("output"))
    if "metadata" in groups:
        out["metadata"] = _metadata(row.get("metadata"), expand_metadata)
    if "model" in groups:
        prices = prices or {}
        params = row.get("model_parameters")
        out.update(
            providedModelName=row.get("provided_model_name"), internalModelId=row.get("internal_model_id"),
            modelParameters=parse_json_if_possible(params) if params else None,
            modelId=row.get("internal_model_id"), inputPrice=price_text(prices.get("input")),
            outputPrice=price_text(prices.get("output")), totalPrice=price_text(prices.get("total")),
        )
    if "usage" in groups:
        out.update(
            usageDetails={str(k): int(v) for k, v in (row.get("usage_details") or {}).items()},
            costDetails={str(k): float(v) for k, v in (row.get("cost_details") or {}).items()},
            totalCost=_total_cost(row), usagePricingTierName=None,
        )
    if "prompt" in groups:
        out.update(promptId=row.get("prompt_id"), promptName=row.get("prompt_name"),
                   promptVersion=row.get("prompt_version"))
    if "metrics" in groups:
        out.update(latency=_seconds(start, row.get("end_time")),
                   timeToFirstToken=_seconds(start, row.get("completion_start_time")))
    if "trace_context" in groups:
        out.update(tags=list(trace["tags"]) if trace.get("tags") is not None else None,
                   release=trace.get("release"), traceName=trace.get("name"))
    return out
