"""Query parameters of the trace, session and daily-metrics reads, and the page rules they share; pure.

- `GET /traces`: `userId`, `name`, `sessionId`, `version`, `release` (equality); `tags` (repeated or
  comma-separated; the trace must have all); `fromTimestamp` (>=), `toTimestamp` (<); `environment`
  (repeated or comma-separated; any of them); `orderBy` (`field.asc|desc`); `page`, `limit` (≤ 100).
- `GET /sessions`: `fromTimestamp` (>=), `toTimestamp` (<) on the session's `createdAt`;
  `environment` (accepted; the sessions table has no such column); `page`, `limit`.
- `GET /metrics/daily`: `traceName`, `userId`, `tags`, `fromTimestamp`, `toTimestamp`,
  `environment`, all on the trace; `page`, `limit`.

`GET /traces` also takes the structured `filter` (a JSON array of conditions, `structured_filter`,
columns in `filter_columns.TRACE_COLUMNS`): its conditions are ANDed with the individual parameters,
except that a condition on a column takes precedence over the individual parameter for that column
(`userId`, `name`, `sessionId`, `version`, `release`, `tags`, `environment`; `timestamp` replaces
`fromTimestamp` and `toTimestamp`), as in Langfuse.
`fields` (which field groups to return) is accepted and ignored: every group is returned.

Filters apply to each trace's *latest* version; the storage layer guarantees that.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from langfuse_aio.domain import query_params as q
from langfuse_aio.domain.filter_columns import TRACE_COLUMNS, TRACE_PARAM_COLUMNS, with_conditions
from langfuse_aio.domain.query_params import OrderBy, Page, QueryArgs
from langfuse_aio.domain.structured_filter import Condition, parse_filter

# API field → traces column, for `orderBy`
TRACE_ORDER_COLUMNS = {
    "id": "id",
    "timestamp": "timestamp",
    "name": "name",
    "userId": "user_id",
    "release": "release",
    "version": "version",
    "public": "public",
    "bookmarked": "bookmarked",
    "sessionId": "session_id",
}
DEFAULT_TRACE_ORDER = OrderBy("timestamp", descending=True)


@dataclass(frozen=True, slots=True)
class TraceFilter:
    user_id: str | None = None
    name: str | None = None
    session_id: str | None = None
    version: str | None = None
    release: str | None = None
    tags: tuple[str, ...] = ()
    environments: tuple[str, ...] = ()
    from_timestamp: datetime | None = None
    to_timestamp: datetime | None = None
    conditions: tuple[Condition, ...] = ()  # the structured `filter`


@dataclass(frozen=True, slots=True)
class TraceListQuery:
    filter: TraceFilter
    order: OrderBy
    page: Page


@dataclass(frozen=True, slots=True)
class SessionListQuery:
    from_timestamp: datetime | None
    to_timestamp: datetime | None
    environments: tuple[str, ...]
    page: Page


def parse_trace_list(args: QueryArgs) -> TraceListQuery:
    conditions = parse_filter(q.text(args, "filter"), TRACE_COLUMNS)
    flt = TraceFilter(
        user_id=q.text(args, "userId"),
        name=q.text(args, "name"),
        session_id=q.text(args, "sessionId"),
        version=q.text(args, "version"),
        release=q.text(args, "release"),
        tags=tuple(q.text_list(args, "tags")),
        environments=tuple(q.text_list(args, "environment")),
        from_timestamp=q.timestamp(args, "fromTimestamp"),
        to_timestamp=q.timestamp(args, "toTimestamp"),
    )
    if conditions:
        flt = with_conditions(flt, conditions, TRACE_PARAM_COLUMNS)
    order = q.order_by(args, "orderBy", TRACE_ORDER_COLUMNS, DEFAULT_TRACE_ORDER)
    return TraceListQuery(flt, order, q.page(args))


def parse_daily_metrics(args: QueryArgs) -> tuple[TraceFilter, Page]:
    flt = TraceFilter(
        name=q.text(args, "traceName"),
        user_id=q.text(args, "userId"),
        tags=tuple(q.text_list(args, "tags")),
        environments=tuple(q.text_list(args, "environment")),
        from_timestamp=q.timestamp(args, "fromTimestamp"),
        to_timestamp=q.timestamp(args, "toTimestamp"),
    )
    return flt, q.page(args)


def parse_session_list(args: QueryArgs) -> SessionListQuery:
    return SessionListQuery(
        from_timestamp=q.timestamp(args, "fromTimestamp"),
        to_timestamp=q.timestamp(args, "toTimestamp"),
        environments=tuple(q.text_list(args, "environment")),
        page=q.page(args),
    )


# --- page windows ---------------------------------------------------------------------------


def sort_key(row: dict[str, Any] | Any, column: str) -> tuple[bool, Any, str]:
    """A row's position key in ClickHouse's order `column, id` (NULLs last in either direction)."""
    value = row[column]
    return (value is None, value, str(row["id"]))


def at_or_before(key: tuple[bool, Any, str], boundary: tuple[bool, Any, str], *, descending: bool) -> bool:
    """Whether a row with `key` comes no later than one with `boundary` in the page order.

    The order is `column <dir>, id <dir>` with NULLs last whatever the direction, as ClickHouse
    sorts. Strings compare by code point, which is ClickHouse's byte order for UTF-8."""
    key_null, key_value, key_id = key
    bound_null, bound_value, bound_id = boundary
    if key_null != bound_null:
        return not key_null
    if not key_null and key_value != bound_value:
        return bool(key_value > bound_value) if descending else bool(key_value < bound_value)
    return key_id >= bound_id if descending else key_id <= bound_id


def page_of(rows: Sequence[Any], page: Page) -> list[Any]:
    return list(rows[page.offset : page.offset + page.limit])
