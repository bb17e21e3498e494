"""Which columns the structured `filter` accepts on each list route, with their types; pure.

The catalogues follow the `filter` parameter's description in today's OpenAPI document, route by
route (aliases included: `tokens`, `scores`, `tags`, `providedModelName`). A column's kind sets the
filter types it takes: a string column takes `string`, `stringOptions` and `null`; a number column
`number` and `null`; a date-time column `datetime` and `null`; `metadata` takes `stringObject`,
`numberObject` and `categoryOptions` (with `key` naming the metadata key).

Each route also names which of its individual query parameters a column replaces: Langfuse lets a
`filter` condition on a column take precedence over the individual parameter for the same column,
and ANDs everything else (`TRACE_PARAM_COLUMNS`, `OBSERVATION_PARAM_COLUMNS`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Final, TypeVar

from langfuse_aio.domain.structured_filter import ColumnSpec, Condition

F = TypeVar("F")

STRING: Final = frozenset({"string", "stringOptions", "null"})
NUMBER: Final = frozenset({"number", "null"})
DATETIME: Final = frozenset({"datetime", "null"})
ARRAY: Final = frozenset({"arrayOptions"})
BOOLEAN: Final = frozenset({"boolean"})
METADATA: Final = frozenset({"stringObject", "numberObject", "categoryOptions"})


def _catalogue(
    kinds: Mapping[str, frozenset[str]], aliases: Mapping[str, str] | None = None, **special: ColumnSpec
) -> dict[str, ColumnSpec]:
    columns = {name: ColumnSpec(name, types) for name, types in kinds.items()}
    columns.update(special)
    for alias, name in (aliases or {}).items():
        columns[alias] = columns[name]
    return columns


TRACE_COLUMNS: Final = _catalogue(
    {
        "id": STRING, "name": STRING, "timestamp": DATETIME, "userId": STRING, "sessionId": STRING,
        "environment": STRING, "version": STRING, "release": STRING, "tags": ARRAY, "bookmarked": BOOLEAN,
        "metadata": METADATA,
        # figures over the trace's observations
        "latency": frozenset({"number"}), "inputTokens": frozenset({"number"}),
        "outputTokens": frozenset({"number"}), "totalTokens": frozenset({"number"}),
        "inputCost": frozenset({"number"}), "outputCost": frozenset({"number"}),
        "totalCost": frozenset({"number"}), "level": STRING, "warningCount": frozenset({"number"}),
        "errorCount": frozenset({"number"}), "defaultCount": frozenset({"number"}),
        "debugCount": frozenset({"number"}),
        # the trace's scores, by score name (`key`)
        "scores_avg": frozenset({"numberObject"}), "score_categories": frozenset({"categoryOptions"}),
        "score_booleans": frozenset({"booleanObject"}),
    },
    {"tokens": "totalTokens", "scores": "scores_avg"},
)

_OBSERVATION_COMMON: Final = {
    "id": STRING, "type": STRING, "name": STRING, "traceId": STRING, "startTime": DATETIME,
    "endTime": DATETIME, "environment": STRING, "level": STRING, "statusMessage": STRING, "version": STRING,
    "latency": NUMBER, "timeToFirstToken": NUMBER, "tokensPerSecond": NUMBER, "inputTokens": NUMBER,
    "outputTokens": NUMBER, "totalTokens": NUMBER, "inputCost": NUMBER, "outputCost": NUMBER,
    "totalCost": NUMBER, "model": STRING, "promptName": STRING, "promptVersion": NUMBER,
    "metadata": METADATA, "userId": STRING, "traceName": STRING, "traceTags": ARRAY,
}

OBSERVATION_V1_COLUMNS: Final = _catalogue(
    {**_OBSERVATION_COMMON, "traceEnvironment": STRING}, {"tokens": "totalTokens"}
)

OBSERVATION_V2_COLUMNS: Final = _catalogue(
    {**_OBSERVATION_COMMON, "sessionId": STRING, "isRootObservation": BOOLEAN},
    {"tokens": "totalTokens", "tags": "traceTags", "providedModelName": "model"},
    metadata=ColumnSpec("metadata", METADATA, matches=True),
    input=ColumnSpec("input", frozenset({"string"}), matches=True, needs_anchor=True),
    output=ColumnSpec("output", frozenset({"string"}), matches=True, needs_anchor=True),
)

# TraceFilter field → the filter column that takes precedence over it
TRACE_PARAM_COLUMNS: Final = {
    "user_id": "userId", "name": "name", "session_id": "sessionId", "version": "version", "release": "release",
    "tags": "tags", "environments": "environment", "from_timestamp": "timestamp", "to_timestamp": "timestamp",
}

# ObservationFilter field → the filter column that takes precedence over it
OBSERVATION_PARAM_COLUMNS: Final = {
    "type": "type", "name": "name", "trace_id": "traceId", "version": "version", "level": "level",
    "user_id": "userId", "session_id": "sessionId", "environments": "environment",
    "from_start_time": "startTime", "to_start_time": "startTime", "has_parent": "isRootObservation",
}


def with_conditions(flt: F, conditions: tuple[Condition, ...], param_columns: Mapping[str, str]) -> F:
    """`flt` carrying `conditions`, without the individual parameters they take precedence over."""
    named = {c.column for c in conditions}
    cleared: dict[str, Any] = {
        field: () if isinstance(getattr(flt, field), tuple) else None
        for field, column in param_columns.items()
        if column in named and hasattr(flt, field)
    }
    return replace(flt, conditions=conditions, **cleared)  # type: ignore[type-var]
