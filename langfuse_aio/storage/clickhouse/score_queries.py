"""Score reads for the public API: filtered lists, counts and point reads, always of the latest version.

Pages: the latest version of each candidate score is picked first (`ORDER BY event_ts DESC,
is_deleted ASC LIMIT 1 BY id`, see `repositories`), then tombstones are dropped, and only then are
the filters applied: a filter on a column that a later version changed (name, value, timestamp
within its day…) applied before deduplication would surface the older version. Only `id` and
`trace_id` (never changed once explicit) narrow the versions read before it. Pages are read through
day windows and deduplicate only their candidates (`windowed`), exact for any writer.

Counts read `scores FINAL` (exact for the rows this server writes: the worker tombstones the old
sorting key when a score's name or day changes), kept in the `ReadCache` while the tables read are
unchanged; a page that is neither full nor empty tells the total itself.

Every list returns only scores the API can render: a known data type, a finite value, and a
CATEGORICAL score with its string value. Trace filters (`userId`, `traceTags`) keep scores whose
trace's latest live version matches (`traces FINAL`); without them the page's traces are read
afterwards, so a score whose trace is missing is still listed. Order: `timestamp DESC, id DESC`.
All values are bound parameters; operators and column names come only from fixed tables here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Final, TypeVar

from langfuse_aio.domain.score_filters import ScoreFilter
from langfuse_aio.storage.clickhouse.base import ClickHouse, Row
from langfuse_aio.storage.clickhouse.read_cache import ReadCache
from langfuse_aio.storage.clickhouse.repositories import fetch_current_rows
from langfuse_aio.storage.clickhouse.windowed import Source, edge_day, newest_first

T = TypeVar("T")

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


def _trace_condition(f: ScoreFilter, params: dict[str, Any]) -> str | None:
    """The trace filters as `s.trace_id IN (live traces whose latest version matches)` (`FINAL`, exact
    for the rows this server writes, see `trace_queries`)."""
    conditions = []
    if f.user_id is not None:
        params["user_id"] = f.user_id
        conditions.append("user_id = {user_id:String}")
    if f.trace_tags:
        params["trace_tags"] = list(f.trace_tags)
        conditions.append("hasAll(tags, {trace_tags:Array(String)})")
    if not conditions:
        return None
    return (
        "s.trace_id IN (SELECT id FROM traces FINAL WHERE project_id = {project_id:String} AND is_deleted = 0"
        + "".join(f" AND {c}" for c in conditions) + ")"
    )


def _conditions(f: ScoreFilter, params: dict[str, Any]) -> list[str]:
    where = [_RENDERABLE]
    if f.match_nothing:
        where.append("0")
    if f.traces_only:
        where.append("s.trace_id != ''")
    if f.ids:
        params["ids"] = list(f.ids)
        where.append("s.id IN {ids:Array(String)}")
    if f.trace_ids:
        params["trace_ids"] = list(f.trace_ids)
        where.append("s.trace_id IN {trace_ids:Array(String)}")
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
    trace = _trace_condition(f, params)
    if trace is not None:
        where.append(trace)
    if f.after is not None:
        params["after_ts"], params["after_id"] = f.after.timestamp, f.after.id
        where.append(f"(s.timestamp < {{after_ts:{_TS}}}"
                     f" OR (s.timestamp = {{after_ts:{_TS}}} AND s.id < {{after_id:String}}))")
    return where


def _source(project_id: str, f: ScoreFilter) -> Source:
    params: dict[str, Any] = {"project_id": project_id}
    conditions = tuple(_conditions(f, params))
    narrow = ""  # `id` and `trace_id` never change, so they narrow the versions read before deduplication
    if f.ids:
        narrow += " AND id IN {ids:Array(String)}"
    if f.trace_ids:
        narrow += " AND trace_id IN {trace_ids:Array(String)}"
    return Source("scores", "timestamp", conditions, params, narrow)


class _Cached:
    """Compute-or-reuse through the ReadCache, reading the tables' fingerprint once per request."""

    def __init__(self, ch: ClickHouse, cache: ReadCache | None, f: ScoreFilter) -> None:
        self._ch, self._cache = ch, cache
        self._tables = ("scores", "traces") if f.needs_trace else ("scores",)
        self._version: Hashable | None = None

    async def __call__(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        if self._cache is None:
            return await compute()
        if self._version is None:
            self._version = await self._cache.fingerprint(self._ch, self._tables)
        return await self._cache.get(self._ch, self._tables, key, compute, version=self._version)


async def _list(
    ch: ClickHouse, project_id: str, f: ScoreFilter, cached: _Cached, *, limit: int, offset: int
) -> list[Row]:
    src = _source(project_id, f)
    edge = await cached(("score-edge-day", project_id, f), lambda: edge_day(ch, src))
    return await newest_first(ch, src, skip=offset, take=limit, edge=edge)


async def _count(ch: ClickHouse, project_id: str, f: ScoreFilter, cached: _Cached) -> int:
    src = _source(project_id, f)

    async def count() -> int:
        rows = await ch.query(
            f"SELECT count() AS n FROM scores AS s FINAL WHERE s.project_id = {{project_id:String}}"
            f" AND s.is_deleted = 0{src.p}",
            dict(src.params),
        )
        return int(rows[0]["n"]) if rows else 0

    return await cached(("score-count", project_id, f), count)


async def list_scores(ch: ClickHouse, project_id: str, f: ScoreFilter, *, limit: int, offset: int = 0,
                      cache: ReadCache | None = None) -> list[Row]:
    """One page of the project's scores matching `f`, newest first (see `windowed`)."""
    return await _list(ch, project_id, f, _Cached(ch, cache, f), limit=limit, offset=offset)


async def count_scores(ch: ClickHouse, project_id: str, f: ScoreFilter, *, cache: ReadCache | None = None) -> int:
    """Live scores whose latest version matches `f`: `FINAL`, exact for the rows this server writes
    (it tombstones a score whose name or day changed, see `trace_queries`)."""
    return await _count(ch, project_id, f, _Cached(ch, cache, f))


async def list_page_with_total(ch: ClickHouse, project_id: str, f: ScoreFilter, *, limit: int, offset: int,
                               cache: ReadCache | None = None) -> tuple[list[Row], int]:
    """A page and the number of matching scores; a page that is neither full nor empty is the last
    one and tells the total itself (exact for any writer)."""
    cached = _Cached(ch, cache, f)
    rows = await _list(ch, project_id, f, cached, limit=limit, offset=offset)
    if 0 < len(rows) < limit or (not rows and offset == 0):
        return rows, offset + len(rows)
    return rows, await _count(ch, project_id, f, cached)


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
