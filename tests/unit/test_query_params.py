"""Query-string parsing of the read API (domain/query_params.py) and the trace-list rules built on it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from langfuse_aio.domain import query_params as q
from langfuse_aio.domain.query_params import InvalidQueryError, OrderBy, Page
from langfuse_aio.domain.trace_filters import (
    TRACE_ORDER_COLUMNS,
    at_or_before,
    parse_daily_metrics,
    parse_trace_list,
)


class Args:
    """A multi-valued query string, like Quart's request.args."""

    def __init__(self, *pairs: tuple[str, str]) -> None:
        self.pairs = pairs

    def getlist(self, key: str) -> list[str]:
        return [v for k, v in self.pairs if k == key]


def args(**values: str | list[str]) -> Args:
    return Args(*((k, item) for k, v in values.items() for item in ([v] if isinstance(v, str) else v)))


def rejected(fn: object, *a: object, **kw: object) -> InvalidQueryError:
    with pytest.raises(InvalidQueryError) as caught:
        fn(*a, **kw)  # type: ignore[operator]
    return caught.value


# --- page / limit ---------------------------------------------------------------------------


def test_page_defaults_and_langfuse_meta() -> None:
    page = q.page(args())
    assert page == Page(1, 50) and page.offset == 0
    assert Page(3, 20).offset == 40
    assert Page(2, 10).meta(21) == {"page": 2, "limit": 10, "totalItems": 21, "totalPages": 3}
    assert Page(1, 50).meta(0)["totalPages"] == 0


def test_empty_strings_count_as_unset_and_the_last_value_wins() -> None:
    assert q.page(args(page="", limit="")) == Page(1, 50)
    assert q.page(args(page=["2", "3"], limit=["10", ""])) == Page(3, 10)


@pytest.mark.parametrize(("name", "value"), [
    ("limit", "101"), ("limit", "0"), ("page", "0"), ("page", "-1"), ("limit", "ten"), ("page", "1.5"),
    ("limit", "1_0"), ("page", "\u0663"), ("page", str(q.MAX_PAGE + 1)), ("page", "9" * 40),
])
def test_bad_page_or_limit_is_a_400_naming_it(name: str, value: str) -> None:
    error = rejected(q.page, args(**{name: value}))
    assert error.status == 400 and error.name == name
    body = error.response_body()
    assert body["message"].startswith("Invalid request data") and body["error"][0]["path"] == [name]


def test_integer_takes_a_sign_and_surrounding_space() -> None:
    assert q.integer(args(n=" +7 "), "n") == 7
    assert q.integer(args(n="-3"), "n") == -3


@pytest.mark.parametrize("value", ["nan", "inf", "-Infinity", "1_0", "\u0663", "1e999", "0x10", ""])
def test_number_refuses_what_is_not_a_finite_ascii_number(value: str) -> None:
    if value == "":
        assert q.number(args(v=value), "v") is None
        return
    assert rejected(q.number, args(v=value), "v").name == "v"


def test_number_accepts_decimal_and_exponent_forms() -> None:
    assert [q.number(args(v=v), "v") for v in ("0.5", ".5", "-2.", "1e3")] == [0.5, 0.5, -2.0, 1000.0]


# --- timestamps -----------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [
    ("2024-11-05T10:11:12.345Z", datetime(2024, 11, 5, 10, 11, 12, 345000, tzinfo=UTC)),
    ("2024-11-05T12:11:12+02:00", datetime(2024, 11, 5, 10, 11, 12, tzinfo=UTC)),
    ("2024-11-05T05:11:12-0500", datetime(2024, 11, 5, 10, 11, 12, tzinfo=UTC)),
    ("2024-11-05T10:11:12", datetime(2024, 11, 5, 10, 11, 12, tzinfo=UTC)),
    ("2024-11-05 10:11", datetime(2024, 11, 5, 10, 11, tzinfo=UTC)),
    ("2024-11-05", datetime(2024, 11, 5, tzinfo=UTC)),
    ("2024-11-05T10:11:12.1234567Z", datetime(2024, 11, 5, 10, 11, 12, 123456, tzinfo=UTC)),
])
def test_timestamps_come_back_in_utc(raw: str, expected: datetime) -> None:
    assert q.timestamp(args(t=raw), "t") == expected


@pytest.mark.parametrize("raw", [
    "yesterday", "2024-13-01T00:00:00Z", "2024-11-05T25:00:00Z", "1731000000", "2024-11-05T10:11:12+24:00",
    "\uff12\uff10\uff12\uff14-11-05", "2024-11-05+05:00",  # an offset without a time was silently dropped before
])
def test_bad_timestamps_are_a_400_naming_the_parameter(raw: str) -> None:
    assert rejected(q.timestamp, args(fromTimestamp=raw), "fromTimestamp").name == "fromTimestamp"


def test_timestamps_beyond_the_storable_range_are_clamped_not_a_500() -> None:
    # 9999-12-31T23:00-05:00 is past datetime.max in UTC: astimezone() raised OverflowError (a 500)
    assert q.timestamp(args(t="9999-12-31T23:00:00-05:00"), "t") == q.LATEST
    assert q.timestamp(args(t="0001-01-01T00:00:00+05:00"), "t") == q.EARLIEST
    assert q.timestamp(args(t="1000-01-01"), "t") == q.EARLIEST  # clickhouse-connect cannot bind year < 1000


# --- lists, choices, booleans, orderBy ------------------------------------------------------


def test_text_list_splits_commas_and_merges_repeats_in_order() -> None:
    assert q.text_list(args(tags=["a,b", " c ", "a", ""]), "tags") == ["a", "b", "c"]
    assert q.text_list(args(), "tags") == []


def test_choice_and_boolean() -> None:
    assert q.choice(args(type="SPAN"), "type", {"SPAN", "EVENT"}) == "SPAN"
    assert rejected(q.choice, args(type="span"), "type", {"SPAN"}).name == "type"
    assert [q.boolean(args(b=v), "b") for v in ("true", "FALSE", "1", "0", "")] == [True, False, True, False, None]
    assert rejected(q.boolean, args(b="yes"), "b").name == "b"


def test_order_by_parses_field_and_direction() -> None:
    default = OrderBy("timestamp", True)
    assert q.order_by(args(), "orderBy", TRACE_ORDER_COLUMNS, default) == default
    assert q.order_by(args(orderBy="userId.asc"), "orderBy", TRACE_ORDER_COLUMNS, default) == OrderBy("user_id", False)
    assert q.order_by(args(orderBy="name.DESC"), "orderBy", TRACE_ORDER_COLUMNS, default) == OrderBy("name", True)


@pytest.mark.parametrize("raw", ["name", "name.", ".asc", "name.up", "input.asc", "user_id.asc", "timestamp desc"])
def test_order_by_without_direction_or_with_an_unknown_field_is_a_400(raw: str) -> None:
    error = rejected(q.order_by, args(orderBy=raw), "orderBy", TRACE_ORDER_COLUMNS, OrderBy("timestamp", True))
    assert error.name == "orderBy" and error.status == 400


# --- the trace-list and metrics queries -------------------------------------------------------


def test_trace_list_query() -> None:
    query = parse_trace_list(args(userId="u", tags=["a,b", "c"], environment=["prod", "dev"], orderBy="name.asc",
                                  fromTimestamp="2024-11-05", page="2", limit="10", fields="core"))
    assert query.filter.user_id == "u" and query.filter.tags == ("a", "b", "c")
    assert query.filter.environments == ("prod", "dev")
    assert query.filter.from_timestamp == datetime(2024, 11, 5, tzinfo=UTC)
    assert query.order == OrderBy("name", False) and query.page == Page(2, 10)
    assert rejected(parse_trace_list, args(filter="[{}]")).name == "filter"


def test_daily_metrics_query_reads_trace_name() -> None:
    flt, page = parse_daily_metrics(args(traceName="n", tags="x"))
    assert flt.name == "n" and flt.tags == ("x",) and page == Page(1, 50)


def test_at_or_before_follows_clickhouse_order_with_nulls_last() -> None:
    a, b, none = (False, "a", "1"), (False, "b", "1"), (True, None, "1")
    assert at_or_before(a, b, descending=False) and not at_or_before(b, a, descending=False)
    assert at_or_before(b, a, descending=True) and not at_or_before(a, b, descending=True)
    for descending in (True, False):  # NULLs last in both directions
        assert at_or_before(a, none, descending=descending) and not at_or_before(none, a, descending=descending)
    # ties on the value fall back to the id, in the same direction
    assert at_or_before((False, "a", "1"), (False, "a", "2"), descending=False)
    assert at_or_before((False, "a", "2"), (False, "a", "1"), descending=True)
    assert at_or_before((False, "a", "2"), (False, "a", "2"), descending=True)
