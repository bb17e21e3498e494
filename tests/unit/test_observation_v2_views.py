"""The v2 observations cursor, price strings and query parsing (pure)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from werkzeug.datastructures import MultiDict

from langfuse_aio.domain.observation_v2_views import (
    DEFAULT_GROUPS,
    Cursor,
    decode_cursor,
    encode_cursor,
    parse_v2,
    price_text,
)
from langfuse_aio.domain.query_params import InvalidQueryError
from tests.support.rows import T0


def test_cursor_round_trips_and_survives_the_standard_alphabet() -> None:
    cursor = Cursor(T0, "id/with+odd?chars")
    token = encode_cursor(cursor)
    assert "=" not in token and "+" not in token and "/" not in token
    assert decode_cursor(token) == cursor
    standard = token.replace("-", "+").replace("_", "/") + "=" * (-len(token) % 4)
    assert decode_cursor(standard) == cursor


@pytest.mark.parametrize("raw", ["", "%%%", "bm90IGpzb24", "eyJpZCI6ICJ4In0", "eyJzdGFydFRpbWUiOiAxLCAiaWQiOiAieCJ9"])
def test_a_foreign_cursor_is_rejected(raw: str) -> None:
    with pytest.raises(InvalidQueryError) as info:
        decode_cursor(raw)
    assert info.value.name == "cursor"


@pytest.mark.parametrize(
    ("value", "text"),
    [(Decimal("0.000005000000000000000000000000"), "0.000005"), (Decimal("10.0"), "10"), (Decimal(0), "0"),
     (1.5, "1.5"), (None, None)],
)
def test_prices_are_plain_decimal_strings(value: object, text: str | None) -> None:
    assert price_text(value) == text


def test_defaults_and_groups() -> None:
    query = parse_v2(MultiDict())
    assert (query.limit, query.groups, query.cursor, query.expand_metadata) == (50, DEFAULT_GROUPS, None, frozenset())
    query = parse_v2(MultiDict([("fields", "io, usage"), ("expandMetadata", "a,b")]))
    assert query.groups == {"core", "io", "usage"} and query.expand_metadata == {"a", "b"}
    assert parse_v2(MultiDict([("expandMetadata", "*")])).expand_metadata is None
