"""Score reads for the public API: filtered lists, counts and point reads, always of the latest version.

The latest version of each score is picked first (`ORDER BY event_ts DESC, is_deleted ASC LIMIT 1 BY
id`, see `repositories`), then tombstones are dropped, and only then are the filters applied: a
filter on a column that a later version changed (name, value, timestamp within its day…) applied
before deduplication would surface the older version. Only `id` and `trace_id` (never changed once
explicit) narrow the scan before it.

Every list returns only scores the API can render: a known data type, a finite value, and a
CATEGORICAL score with its string value. Trace filters (`userId`, `traceTags`) inner-join the latest
trace rows; without them the page's traces are read afterwards, so a score whose trace is missing
is still listed. Order: `timestamp DESC, id DESC`. All values are bound parameters; operators and
column names come only from fixed tables here.
"""

from __future__ import annotations

from typing import Any, Final

from langfuse_aio.domain.score_filters import ScoreFilter
from langfuse_aio.storage.clickhouse.base import ClickHouse, Row
from langfuse_aio.storage.clickhouse.repositories import fetch_current_rows

_LATEST: Final = "ORDER BY event_ts DESC, is_deleted ASC LIMIT 1 BY id"
_RENDERABLE: Final = (
    "s.data_type IN ('NUMERIC', 'CATEGORICAL', 'BOOLEAN') AND isFinite(s.value)"
    " AND (s.data_type != 'CATEGORICAL' OR s.string_value IS NOT NULL)"
)
_OPERATORS: Final = {"<": "<", ">": ">", "<=": "<=", ">=": ">=", "!=": "!=", "=": "="}
_METADATA: Final = {
    "=": "s.metadata[{%(k)s:String}] = {%(v)s:String}",
    "contains": "position(s.metadata[{%(k)s:String}], {%(v)s:String}) > 0",
    "does not contain": "position(s.metadata[{%(k)s:String}], {%(v)s:String}) = 0",
    "starts with": "startsWith(s.metadata[{%(k)s:String}], {%(v)s:String})",
    "ends with": "endsWith(s.metadata[{%(k)s:String}], {%(v)s:String})",
}
_TS: Final = "DateTime64(3, 'UTC')"
# (filter attribute, column, ClickHouse element type) for `column IN {param:Array(type)}` conditions
_IN_LISTS: Final = (
    ("session_ids", "s.session_id", "String"),
    ("observation_ids", "s.observation_id", "String"),
    ("names", "s.name", "String"),
    ("sources", "s.source", "String"),
    ("data_types", "s.data_type", "String"),
    ("environments", "s.environment", "String"),
    ("config_ids", "s.config_id", "String"),
    ("queue_ids", "s.queue_id", "String"),
    ("author_user_ids", "s.author_user_id", "String"),
    ("numeric_values", "s.value", "Float64"),
    ("string_values", "s.string_value", "String"),
)


def _latest_scores(f: ScoreFilter, params: dict[str, Any]) -> str:
    narrow = ""
    if f.ids:
        params["ids"] = list(f.ids)
        narrow += " AND id IN {ids:Array(String)}"
    if f.trace_ids:
        params["trace_ids"] = list(f.trace_ids)
        narrow += " AND trace_id IN {trace_ids:Array(String)}"
    return (
        "(SELECT * FROM (SELECT * FROM scores WHERE project_id = {project_id:String}"
        f"{narrow} {_LATEST}) WHERE is_deleted = 0)"
    )


_LATEST_TRACES: Final = (
    "(SELECT id, user_id, tags FROM (SELECT id, user_id, tags, is_deleted FROM traces"
    f" WHERE project_id = {{project_id:String}} {_LATEST}) WHERE is_deleted = 0)"
)


def _conditions(f: ScoreFilter, params: dict[str, Any]) -> list[str]:
    where = [_RENDERABLE]
    if f.match_nothing:
        where.append("0")
    if f.traces_only:
        where.append("s.trace_id != ''")
    for attribute, column, element in _IN_LISTS:
        values = getattr(f, attribute)
        if values:
            params[attribute] = list(values)
            where.append(f"{column} IN {{{attribute}:Array({element})}}")
    if f.from_timestamp is not None:
        params["from_timestamp"] = f.from_timestamp
        where.append(f"s.timestamp >= {{from_timestamp:{_TS}}}")
    if f.to_timestamp is not None:
        params["to_timestamp"] = f.to_timestamp
        where.append(f"s.timestamp < {{to_timestamp:{_TS}}}")
    if f.value_operator is not None:
        operator, params["value"] = f.value_operator
        where.append(f"s.value {_OPERATORS[operator]} {{value:Float64}}")
    if f.value_min is not None:
        params["value_min"] = f.value_min
        where.append("s.value >= {value_min:Float64}")
    if f.value_max is not None:
        params["value_max"] = f.value_max
        where.append("s.value <= {value_max:Float64}")
    for index, condition in enumerate(f.metadata):
        key, value = f"meta_key_{index}", f"meta_value_{index}"
        params[key], params[value] = condition.key, condition.value
        where.append(_METADATA[condition.operator] % {"k": key, "v": value})
    if f.user_id is not None:
        params["user_id"] = f.user_id
        where.append("t.user_id = {user_id:String}")
    if f.trace_tags:
        params["trace_tags"] = list(f.trace_tags)
        where.append("hasAll(t.tags, {trace_tags:Array(String)})")
    if f.after is not None:
        params["after_ts"], params["after_id"] = f.after.timestamp, f.after.id
        where.append(f"(s.timestamp < {{after_ts:{_TS}}}"
                     f" OR (s.timestamp = {{after_ts:{_TS}}} AND s.id < {{after_id:String}}))")
    return where


def _from_where(project_id: str, f: ScoreFilter) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {"project_id": project_id}
    source = f"{_latest_scores(f, params)} AS s"
    if f.needs_trace:
        source += f" INNER JOIN {_LATEST_TRACES} AS t ON t.id = s.trace_id"
    return f"FROM {source} WHERE " + " AND ".join(_conditions(f, params)), params


async def list_scores(ch: ClickHouse, project_id: str, f: ScoreFilter, *, limit: int, offset: int = 0) -> list[Row]:
    """One page of the project's scores matching `f`, newest first."""
    from_where, params = _from_where(project_id, f)
    params.update(limit=limit, offset=offset)
    return await ch.query(
        f"SELECT s.* {from_where} ORDER BY s.timestamp DESC, s.id DESC"
        " LIMIT {limit:UInt32} OFFSET {offset:UInt64}",
        params,
    )


async def count_scores(ch: ClickHouse, project_id: str, f: ScoreFilter) -> int:
    from_where, params = _from_where(project_id, f)
    rows = await ch.query(f"SELECT count() AS n {from_where}", params)
    return int(rows[0]["n"]) if rows else 0


_TRACE_FIELDS: Final = (
    "SELECT id, user_id, tags, environment, session_id FROM (SELECT id, user_id, tags, environment, session_id,"
    " is_deleted FROM traces WHERE project_id = {project_id:String} AND id IN {ids:Array(String)}"
    f" {_LATEST}) WHERE is_deleted = 0"
)


async def traces_of(ch: ClickHouse, project_id: str, scores: list[Row]) -> dict[str, Row]:
    """The fields the score lists show of each score's trace (latest live version), by trace id;
    missing traces are absent. A page holds at most 100 scores, so one query."""
    ids = sorted({str(s["trace_id"]) for s in scores if s["trace_id"]})
    if not ids:
        return {}
    rows = await ch.query(_TRACE_FIELDS, {"project_id": project_id, "ids": ids})
    return {str(row["id"]): row for row in rows}


async def get_score(ch: ClickHouse, project_id: str, score_id: str) -> Row | None:
    """The score's latest version, or None when it does not exist or is deleted."""
    return (await fetch_current_rows(ch, "scores", project_id, [score_id])).get(score_id)
