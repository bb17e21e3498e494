"""The structured `filter` of the observation lists as conditions on an `observations` row.

Observation columns map to the row's columns or to expressions over them, computed as the API
shows them (`api_views`, `observation_v2_views`): latency and time to first token in seconds
(NULL without an end or completion start time), tokens per second as output tokens over latency
(NULL without a positive latency), tokens summing the `input*`/`output*` usage keys and `total`,
costs summing the `input*`/`output*` cost keys (NULL without any) and the total cost being
`total_cost`, else `cost_details['total']`. Each expression names the columns it reads beyond the
deduplication key's, which the page query then carries through deduplication.

Trace columns (`userId`, `sessionId`, `traceName`, `traceEnvironment`, `traceTags`) are conditions
on the observation's trace's latest version (`observation_queries`), so an observation whose trace
does not exist matches none of them.
"""

from __future__ import annotations

from typing import Final

from langfuse_aio.domain.structured_filter import Condition
from langfuse_aio.storage.clickhouse.filter_sql import Sql, render


def _keys_sum(prefix: str, column: str) -> str:
    return f"arraySum(mapValues(mapFilter((k, v) -> startsWith(k, '{prefix}'), {column})))"


def _keys_sum_or_null(prefix: str, column: str) -> str:
    keys = f"mapFilter((k, v) -> startsWith(k, '{prefix}'), {column})"
    return f"if(empty({keys}), NULL, toFloat64(arraySum(mapValues({keys}))))"


_LATENCY = "(date_diff('millisecond', start_time, end_time) / 1000)"

# column → (expression on an observations row, the columns it reads)
ROW_COLUMNS: Final[dict[str, tuple[str, tuple[str, ...]]]] = {
    "id": ("id", ()),
    "type": ("type", ()),
    "name": ("name", ()),
    "traceId": ("trace_id", ()),
    "startTime": ("start_time", ()),
    "endTime": ("end_time", ("end_time",)),
    "environment": ("environment", ()),
    "level": ("level", ()),
    "statusMessage": ("status_message", ("status_message",)),
    "version": ("version", ()),
    "latency": (_LATENCY, ("end_time",)),
    "timeToFirstToken": ("date_diff('millisecond', start_time, completion_start_time) / 1000",
                         ("completion_start_time",)),
    "tokensPerSecond": (f"if(ifNull({_LATENCY}, 0) > 0, {_keys_sum('output', 'usage_details')} / {_LATENCY}, NULL)",
                        ("end_time", "usage_details")),
    "inputTokens": (_keys_sum("input", "usage_details"), ("usage_details",)),
    "outputTokens": (_keys_sum("output", "usage_details"), ("usage_details",)),
    "totalTokens": ("usage_details['total']", ("usage_details",)),
    "inputCost": (_keys_sum_or_null("input", "cost_details"), ("cost_details",)),
    "outputCost": (_keys_sum_or_null("output", "cost_details"), ("cost_details",)),
    "totalCost": ("multiIf(isNotNull(total_cost), toFloat64(total_cost), mapContains(cost_details, 'total'),"
                  " toFloat64(cost_details['total']), NULL)", ("total_cost", "cost_details")),
    "model": ("provided_model_name", ("provided_model_name",)),
    "promptName": ("prompt_name", ("prompt_name",)),
    "promptVersion": ("prompt_version", ("prompt_version",)),
    "metadata": ("metadata", ("metadata",)),
    "isRootObservation": ("ifNull(parent_observation_id, '') = ''", ()),
    "input": ("input", ("input",)),
    "output": ("output", ("output",)),
}

# column → expression on the trace's (latest) traces row
TRACE_COLUMNS: Final = {
    "userId": "user_id", "sessionId": "session_id", "traceName": "name", "traceEnvironment": "environment",
    "traceTags": "tags",
}


def is_trace_column(condition: Condition) -> bool:
    return condition.column in TRACE_COLUMNS


def observation_condition(condition: Condition) -> tuple[Sql, tuple[str, ...]]:
    """A condition on an observation column, and the row columns it reads."""
    expr, columns = ROW_COLUMNS[condition.column]
    return render(condition, expr), columns


def trace_side_condition(condition: Condition) -> tuple[Sql, tuple[str, ...]]:
    """A condition on a trace column, on a traces row, and the traces columns it reads."""
    expr = TRACE_COLUMNS[condition.column]
    return render(condition, expr), (expr,)
