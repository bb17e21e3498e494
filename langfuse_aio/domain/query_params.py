"""Query-string parsing for the public read API; pure.

Every reader takes the request's multi-valued arguments (anything with `getlist`, such as Quart's
`request.args`) and a parameter name, and returns a typed value or raises `InvalidQueryError`
naming the parameter. An empty string counts as unset, as in Langfuse's zod schemas. The 400 body
keeps Langfuse's shape, `{"message": "Invalid request data", "error": [issues]}`, each issue
naming the parameter in `path`; the message adds the first issue so a human reads it at once.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from langfuse_aio.domain.errors import InvalidRequestError

DEFAULT_LIMIT = 50
MAX_LIMIT = 100
MAX_PAGE = 1_000_000_000  # keeps every offset (≤ 10¹¹) inside a signed 64-bit integer
# Every stored timestamp lies in ClickHouse's DateTime64 range; bounds outside it are clamped to it
# (a bound like 0001-01-01 or 9999-12-31 then still means "from the beginning" / "until the end").
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2299, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)
_INTEGER = re.compile(r"^[+-]?[0-9]+$")
_NUMBER = re.compile(r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$")


class QueryArgs(Protocol):
    def getlist(self, key: str) -> list[str]: ...


class InvalidQueryError(InvalidRequestError):
    """A query parameter failed validation; the body names it."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"Invalid request data: {name}: {problem}")
        self.name = name
        self.problem = problem

    def response_body(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "error": [{"code": "invalid_query_parameter", "path": [self.name], "message": self.problem}],
        }


@dataclass(frozen=True, slots=True)
class Page:
    page: int
    limit: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit

    def meta(self, total_items: int) -> dict[str, int]:
        """Langfuse's list `meta`; totalPages = ceil(totalItems / limit)."""
        return {
            "page": self.page,
            "limit": self.limit,
            "totalItems": total_items,
            "totalPages": math.ceil(total_items / self.limit) if self.limit else 0,
        }


def text(args: QueryArgs, name: str) -> str | None:
    """The last non-empty value of `name`, or None."""
    values = [v for v in args.getlist(name) if v != ""]
    return values[-1] if values else None


def text_list(args: QueryArgs, name: str) -> list[str]:
    """A repeated parameter or a comma-separated one (or both), empty items dropped, order kept."""
    items = [item.strip() for value in args.getlist(name) for item in value.split(",")]
    return list(dict.fromkeys(item for item in items if item))


def integer(args: QueryArgs, name: str, *, default: int | None = None, minimum: int | None = None,
            maximum: int | None = None) -> int | None:
    raw = text(args, name)
    if raw is None:
        return default
    if not _INTEGER.match(raw.strip()):  # ASCII digits only: int() would also take "1_000" and "٣"
        raise InvalidQueryError(name, f"expected an integer, got {raw!r}")
    value = int(raw.strip())
    if minimum is not None and value < minimum:
        raise InvalidQueryError(name, f"must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise InvalidQueryError(name, f"must be at most {maximum}")
    return value


def number(args: QueryArgs, name: str) -> float | None:
    raw = text(args, name)
    if raw is None:
        return None
    if not _NUMBER.match(raw.strip()):  # float() would also take "1_0", "٣", "nan" and "inf"
        raise InvalidQueryError(name, f"expected a number, got {raw!r}")
    value = float(raw.strip())
    if not math.isfinite(value):
        raise InvalidQueryError(name, "must be a finite number")
    return value


def page(args: QueryArgs, *, max_limit: int = MAX_LIMIT) -> Page:
    """`page` (default 1, 1..10⁹) and `limit` (default 50, 1..100)."""
    number_ = integer(args, "page", default=1, minimum=1, maximum=MAX_PAGE)
    limit = integer(args, "limit", default=DEFAULT_LIMIT, minimum=1, maximum=max_limit)
    assert number_ is not None and limit is not None
    return Page(number_, limit)


# a date alone, or a date and time with an optional offset (an offset needs a time: Python would
# otherwise drop it from "2024-01-01+05:00" and read the date's UTC midnight)
_ISO = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}:?[0-9]{2})?)?$"
)


def timestamp(args: QueryArgs, name: str) -> datetime | None:
    """An ISO 8601 date-time (a date alone means its midnight); no offset means UTC. Returned in UTC,
    clamped to [EARLIEST, LATEST]."""
    raw = text(args, name)
    if raw is None:
        return None
    value = raw.strip()
    if not _ISO.match(value):
        raise InvalidQueryError(name, f"expected an ISO 8601 date-time, got {raw!r}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidQueryError(name, f"expected an ISO 8601 date-time, got {raw!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        parsed = parsed.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:00:00-05:00 lies after datetime.max in UTC
        return LATEST if parsed.year > 1 else EARLIEST
    return min(max(parsed, EARLIEST), LATEST)


def choice(args: QueryArgs, name: str, allowed: Collection[str]) -> str | None:
    raw = text(args, name)
    if raw is None:
        return None
    if raw not in allowed:
        raise InvalidQueryError(name, f"must be one of {', '.join(sorted(allowed))}; got {raw!r}")
    return raw


def choices(args: QueryArgs, name: str, allowed: Collection[str]) -> list[str]:
    values = text_list(args, name)
    for value in values:
        if value not in allowed:
            raise InvalidQueryError(name, f"must be one of {', '.join(sorted(allowed))}; got {value!r}")
    return values


def boolean(args: QueryArgs, name: str) -> bool | None:
    raw = text(args, name)
    if raw is None:
        return None
    lowered = raw.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise InvalidQueryError(name, f"expected true or false, got {raw!r}")


@dataclass(frozen=True, slots=True)
class OrderBy:
    column: str  # a trusted column name from the route's allow-list, never user text
    descending: bool


def order_by(args: QueryArgs, name: str, columns: Mapping[str, str], default: OrderBy) -> OrderBy:
    """`<field>.<asc|desc>` with `field` from `columns` (API field → column). Langfuse answers an
    unknown field with a 500; here it is a 400 naming the allowed fields."""
    raw = text(args, name)
    if raw is None:
        return default
    field, _, direction = raw.rpartition(".")
    if not field or direction.upper() not in ("ASC", "DESC"):
        raise InvalidQueryError(name, f"expected <field>.<asc|desc>, got {raw!r}")
    if field not in columns:
        raise InvalidQueryError(name, f"cannot order by {field!r}; allowed: {', '.join(columns)}")
    return OrderBy(columns[field], direction.upper() == "DESC")
