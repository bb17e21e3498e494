"""The structured `filter` of `GET /traces` as conditions on a `traces` row.

Columns of the trace itself are its own columns. The figures over the trace's observations
(latency, tokens, costs, level and level counts) and its scores are conditions on `id` against
a grouped subquery of `observations FINAL` / `scores FINAL` (one live version per id, exact for
the rows this server writes, as every FINAL read here; see `trace_queries`). A trace without
observations has the figures the list shows for it (latency, tokens, costs and counts 0; no
level): when the condition holds for those, the subquery names the traces that fail it
(`id NOT IN`), so traces without observations still match; otherwise it names those that pass.
The figures count all of the trace's observations (the list's own figures leave out any that
start more than an hour before the trace, which no SDK produces).

Latency, tokens and costs are computed as the API shows them (`api_views`): tokens sum the
`input*`/`output*` usage keys and `total`; the total cost is `total_cost`, else
`cost_details['total']`.
"""

from __future__ import annotations

from typing import Final

from langfuse_aio.domain.structured_filter import Condition, holds_for
from langfuse_aio.storage.clickhouse.filter_sql import Sql, compare, param_name, render

ROW_COLUMNS: Final = {
    "id": "id", "name": "name", "timestamp": "timestamp", "userId": "user_id", "sessionId": "session_id",
    "environment": "environment", "version": "version", "release": "release", "tags": "tags",
    "bookmarked": "bookmarked", "metadata": "metadata",
}


def _keys_sum(prefix: str, column: str) -> str:
    return f"arraySum(mapValues(mapFilter((k, v) -> startsWith(k, '{prefix}'), {column})))"


_FIRST = "least(min(start_time), ifNull(min(end_time), min(start_time)))"
_LAST = "greatest(max(start_time), ifNull(max(end_time), max(start_time)))"
_LEVEL = ("multiIf(countIf(level = 'ERROR') > 0, 'ERROR', countIf(level = 'WARNING') > 0, 'WARNING',"
          " countIf(level = 'DEFAULT') > 0, 'DEFAULT', countIf(level = 'DEBUG') > 0, 'DEBUG', NULL)")

# column → (aggregate over the trace's observations, its value for a trace without observations)
AGGREGATES: Final[dict[str, tuple[str, float | None]]] = {
    "latency": (f"date_diff('millisecond', {_FIRST}, {_LAST}) / 1000", 0.0),
    "inputTokens": (f"sum({_keys_sum('input', 'usage_details')})", 0.0),
    "outputTokens": (f"sum({_keys_sum('output', 'usage_details')})", 0.0),
    "totalTokens": ("sum(usage_details['total'])", 0.0),
    "inputCost": (f"sum({_keys_sum('input', 'cost_details')})", 0.0),
    "outputCost": (f"sum({_keys_sum('output', 'cost_details')})", 0.0),
    "totalCost": ("sum(ifNull(total_cost, cost_details['total']))", 0.0),
    "level": (_LEVEL, None),
    "warningCount": ("countIf(level = 'WARNING')", 0.0),
    "errorCount": ("countIf(level = 'ERROR')", 0.0),
    "defaultCount": ("countIf(level = 'DEFAULT')", 0.0),
    "debugCount": ("countIf(level = 'DEBUG')", 0.0),
}

_OBSERVATIONS = (
    "SELECT trace_id FROM observations FINAL WHERE project_id = {project_id:String} AND is_deleted = 0"
    " GROUP BY trace_id HAVING "
)
_SCORES = "SELECT trace_id FROM scores FINAL WHERE project_id = {project_id:String} AND is_deleted = 0"


def _aggregate(condition: Condition) -> Sql:
    expr, empty = AGGREGATES[condition.column]
    sql = render(condition, expr)
    if holds_for(condition, empty):
        return Sql(f"id NOT IN ({_OBSERVATIONS}NOT ifNull({sql.text}, 0))", sql.params)
    return Sql(f"id IN ({_OBSERVATIONS}ifNull({sql.text}, 0))", sql.params)


def _score(condition: Condition) -> Sql:
    p = param_name(condition)
    name = f" AND name = {{{p}_key:String}}"
    params = {f"{p}_key": condition.key}
    value = condition.value
    if condition.column == "scores_avg":
        having = compare("avg(value)", condition.operator, f"{{{p}:Float64}}")
        sql = f"id IN ({_SCORES} AND data_type = 'NUMERIC'{name} GROUP BY trace_id HAVING {having})"
        return Sql(sql, {**params, p: value})
    if condition.column == "score_categories":
        assert isinstance(value, tuple)
        scored = f"{_SCORES} AND data_type = 'CATEGORICAL'{name} AND has({{{p}:Array(String)}}, string_value)"
        negated = condition.operator == "none of"
        return Sql(f"id {'NOT IN' if negated else 'IN'} ({scored})", {**params, p: list(value)})
    if condition.column == "score_booleans":
        scored = f"{_SCORES} AND data_type = 'BOOLEAN'{name} AND value = {{{p}:Float64}}"
        negated = condition.operator == "<>"  # also traces without a score of that name
        return Sql(f"id {'NOT IN' if negated else 'IN'} ({scored})", {**params, p: 1.0 if value else 0.0})
    raise ValueError(f"no score column {condition.column!r}")


def trace_condition(condition: Condition) -> tuple[Sql, tuple[str, ...]]:
    """The condition on a traces row, and the tables it reads besides `traces`."""
    if condition.column in ROW_COLUMNS:
        return render(condition, ROW_COLUMNS[condition.column]), ()
    if condition.column in AGGREGATES:
        return _aggregate(condition), ("observations",)
    return _score(condition), ("scores",)
