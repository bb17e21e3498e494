"""ClickHouse rows → the public API's JSON objects (camelCase), as Langfuse's read endpoints shape them.

Pure: rows in (the Python values both ClickHouse backends return: tz-aware UTC datetimes, dicts
for maps, Decimal costs, None for NULL), JSON-ready dicts out (str, int, float, bool, None, list,
dict only). Shapes follow the v3.0.0 OpenAPI schemas (`TraceWithFullDetails`, `ObservationsView`,
`Score`) with the fixes later Langfuse versions made, and every key the current OpenAPI spec and
the Python SDKs (v2 and v5) require is always present:

- trace `input`/`output` and every `metadata` value are parsed JSON-if-possible (v3.4.0 / v3.6.1
  fixes; v3.0.0 returned raw strings);
- observation `latency` and `timeToFirstToken` are in seconds (v3.0.0 returned milliseconds);
- `usage` always has integer `input`/`output`/`total` (0 when absent; py v5 requires them),
  `usageDetails` integers and `costDetails` floats; `calculated*Cost` are null when absent
  (v3.0.0's truthiness check also nulled a cost of exactly 0; here 0 stays 0);
- usage and cost `input`/`output` sum every key that starts with `input`/`output`
  (`input_cached_tokens` …), as Langfuse's `reduceUsageOrCostDetails` does;
- a score's `value` is always a number (the stored 0 for a CATEGORICAL score without config;
  py v5 requires a float) and `environment` and `metadata` are always present.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

Row = Mapping[str, Any]
Prices = Mapping[str, Any]  # usage type ("input" | "output" | "total") → price per unit

SCORE_DATA_TYPES = frozenset({"NUMERIC", "CATEGORICAL", "BOOLEAN"})
USAGE_UNIT = "TOKENS"  # Langfuse's observations API always reports this unit


# --- values ---------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def parse_json_if_possible(value: str | None) -> Any:
    """JSON.parse semantics: the parsed value when `value` is JSON, else `value` itself.

    NaN/Infinity are not JSON (JavaScript's JSON.parse refuses them; JSON output cannot carry
    them), so such a string stays a string."""
    if value is None:
        return None
    try:
        return json.loads(value, parse_constant=_reject_constant)
    except ValueError:  # json.JSONDecodeError is a ValueError
        return value


def parse_metadata(metadata: Mapping[str, str] | None) -> dict[str, Any]:
    """A ClickHouse metadata map with each value parsed JSON-if-possible (Langfuse ≥ v3.6.1)."""
    return {str(key): parse_json_if_possible(value) for key, value in (metadata or {}).items()}


def format_datetime(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with milliseconds and `Z`, as JavaScript's Date.toISOString()."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return f"{value:%Y-%m-%dT%H:%M:%S}.{value.microsecond // 1000:03d}Z"


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds()


def _reduce(details: Mapping[str, Any] | None) -> tuple[Any, Any, Any]:
    """(sum of `input*` keys, sum of `output*` keys, `total`), each None when absent."""
    details = details or {}
    inputs = [v for k, v in details.items() if k.startswith("input")]
    outputs = [v for k, v in details.items() if k.startswith("output")]
    return (sum(inputs) if inputs else None, sum(outputs) if outputs else None, details.get("total"))


# --- observations ---------------------------------------------------------------------------


def observation_to_api(row: Row, *, prices: Prices | None = None) -> dict[str, Any]:
    """An `observations` row as the API's ObservationsView.

    `prices` are the matched model's Postgres prices by usage type; absent prices are null."""
    usage_details: Mapping[str, Any] = row.get("usage_details") or {}
    cost_details: Mapping[str, Any] = row.get("cost_details") or {}
    usage_input, usage_output, usage_total = _reduce(usage_details)
    cost_input, cost_output, cost_total = _reduce(cost_details)
    prompt_tokens = int(usage_input or 0)
    completion_tokens = int(usage_output or 0)
    total_tokens = int(usage_total or 0)
    start: datetime = row["start_time"]
    model_parameters = row.get("model_parameters")
    prices = prices or {}
    return {
        "id": row["id"],
        "projectId": row["project_id"],
        "traceId": row.get("trace_id"),
        "parentObservationId": row.get("parent_observation_id"),
        "type": row["type"],
        "name": row.get("name"),
        "environment": row.get("environment") or "default",
        "startTime": format_datetime(start),
        "endTime": format_datetime(row.get("end_time")),
        "completionStartTime": format_datetime(row.get("completion_start_time")),
        "version": row.get("version"),
        "level": row.get("level") or "DEFAULT",
        "statusMessage": row.get("status_message"),
        "input": parse_json_if_possible(row.get("input")),
        "output": parse_json_if_possible(row.get("output")),
        "metadata": parse_metadata(row.get("metadata")),
        "model": row.get("provided_model_name"),
        "modelParameters": parse_json_if_possible(model_parameters) if model_parameters else None,
        "promptId": row.get("prompt_id"),
        "promptName": row.get("prompt_name"),
        "promptVersion": row.get("prompt_version"),
        "usage": {"unit": USAGE_UNIT, "input": prompt_tokens, "output": completion_tokens, "total": total_tokens},
        "usageDetails": {str(k): int(v) for k, v in usage_details.items()},
        "costDetails": {str(k): float(v) for k, v in cost_details.items()},
        # legacy duplicates of `usage`, still returned by Langfuse
        "unit": USAGE_UNIT,
        "promptTokens": prompt_tokens,
        "completionTokens": completion_tokens,
        "totalTokens": total_tokens,
        "modelId": row.get("internal_model_id"),
        "inputPrice": _number(prices.get("input")),
        "outputPrice": _number(prices.get("output")),
        "totalPrice": _number(prices.get("total")),
        "calculatedInputCost": _number(cost_input),
        "calculatedOutputCost": _number(cost_output),
        "calculatedTotalCost": _number(cost_total),
        "latency": _seconds_between(start, row.get("end_time")),
        "timeToFirstToken": _seconds_between(start, row.get("completion_start_time")),
        "createdAt": format_datetime(row.get("created_at")),
        "updatedAt": format_datetime(row.get("updated_at")),
    }


# --- scores ---------------------------------------------------------------------------------


def is_api_score(row: Row) -> bool:
    """Whether a score row can be shown as a v1 API Score (Langfuse drops the others from lists)."""
    data_type = row.get("data_type")
    if data_type not in SCORE_DATA_TYPES or not row.get("trace_id"):
        return False
    if not math.isfinite(float(row.get("value") or 0.0)):  # NaN/inf cannot be sent as JSON
        return False
    return data_type != "CATEGORICAL" or row.get("string_value") is not None


def score_to_api(row: Row) -> dict[str, Any]:
    """A `scores` row as the API's Score (v1, discriminated by `dataType`)."""
    data_type = row["data_type"]
    value = float(row["value"]) if row.get("value") is not None else 0.0
    string_value = row.get("string_value")
    if data_type == "BOOLEAN" and string_value is None:
        string_value = "True" if value == 1 else "False"
    return {
        "id": row["id"],
        "projectId": row["project_id"],
        "traceId": row.get("trace_id"),
        "observationId": row.get("observation_id"),
        "name": row["name"],
        "value": value,
        "stringValue": string_value,
        "dataType": data_type,
        "source": row["source"],
        "comment": row.get("comment"),
        "metadata": parse_metadata(row.get("metadata")),
        "authorUserId": row.get("author_user_id"),
        "configId": row.get("config_id"),
        "queueId": row.get("queue_id"),
        "environment": row.get("environment") or "default",
        "timestamp": format_datetime(row["timestamp"]),
        "createdAt": format_datetime(row.get("created_at")),
        "updatedAt": format_datetime(row.get("updated_at")),
    }


# --- traces ---------------------------------------------------------------------------------


def trace_latency_seconds(observations: Iterable[Row]) -> float:
    """Latest start or end minus earliest start or end over the observations; 0 without any."""
    times: list[datetime] = [
        t for row in observations for t in (row.get("start_time"), row.get("end_time")) if t is not None
    ]
    if not times:
        return 0.0
    return (max(times) - min(times)).total_seconds()


def trace_total_cost(observations: Iterable[Row]) -> float:
    """Sum of the observations' total cost (`total_cost`, else `cost_details['total']`)."""
    total = Decimal(0)
    for row in observations:
        cost = row.get("total_cost")
        if cost is None:
            cost = (row.get("cost_details") or {}).get("total")
        if cost is not None:
            total += cost if isinstance(cost, Decimal) else Decimal(str(cost))
    return float(total)


def trace_html_path(project_id: str, trace_id: str, *, base_path: str = "") -> str:
    return f"{base_path.rstrip('/')}/project/{project_id}/traces/{trace_id}"


def trace_to_api_base(row: Row) -> dict[str, Any]:
    """The `Trace` fields of a `traces` row (shared by the trace list and the single trace)."""
    return {
        "id": row["id"],
        "projectId": row["project_id"],
        "timestamp": format_datetime(row["timestamp"]),
        "name": row.get("name"),
        "input": parse_json_if_possible(row.get("input")),
        "output": parse_json_if_possible(row.get("output")),
        "sessionId": row.get("session_id"),
        "release": row.get("release"),
        "version": row.get("version"),
        "userId": row.get("user_id"),
        "metadata": parse_metadata(row.get("metadata")),
        "tags": list(row.get("tags") or []),
        "public": bool(row.get("public", False)),
        "bookmarked": bool(row.get("bookmarked", False)),
        "environment": row.get("environment") or "default",
        "externalId": None,
        "createdAt": format_datetime(row.get("created_at")),
        "updatedAt": format_datetime(row.get("updated_at")),
    }


def trace_to_api(
    row: Row,
    *,
    observations: Sequence[Row],
    scores: Sequence[Row],
    prices_by_model: Mapping[str, Prices] | None = None,
    base_path: str = "",
) -> dict[str, Any]:
    """A `traces` row with its observation and score rows as the API's TraceWithFullDetails.

    `prices_by_model` maps an observation's `internal_model_id` to its model's prices;
    `base_path` prefixes `htmlPath` when the UI is served below a path."""
    prices_by_model = prices_by_model or {}
    return {
        **trace_to_api_base(row),
        "htmlPath": trace_html_path(row["project_id"], row["id"], base_path=base_path),
        "latency": trace_latency_seconds(observations),
        "totalCost": trace_total_cost(observations),
        "observations": [
            observation_to_api(o, prices=prices_by_model.get(o.get("internal_model_id") or ""))
            for o in observations
        ],
        "scores": [score_to_api(s) for s in scores if is_api_score(s)],
    }
