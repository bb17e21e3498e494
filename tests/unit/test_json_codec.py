"""Stored events decode to exactly the values they were encoded from, whichever parser runs."""

from __future__ import annotations

import json

import pytest

from langfuse_aio.domain import json_codec


@pytest.mark.parametrize("number", [
    1733400000123456789,          # an OTel nanosecond timestamp: 19 digits, fits u64
    18446744073709551615,         # u64 max
    18446744073709551616,         # beyond u64: orjson would make it a float
    -9223372036854775809,         # below i64 min
    -9999999999999999999,
])
def test_big_integers_stay_exact_integers(number: int) -> None:
    decoded = json_codec.loads(json_codec.dumps({"n": number, "s": "x"}))
    assert decoded == {"n": number, "s": "x"} and type(decoded["n"]) is int


def test_a_lone_surrogate_round_trips_through_the_stdlib_fallback() -> None:
    value = {"input": "broken \ud800 text", "emoji": "😀"}
    encoded = json_codec.dumps(value)
    assert json_codec.loads(encoded) == value
    assert json.loads(encoded) == value


def test_invalid_json_raises_value_error() -> None:
    with pytest.raises(ValueError):
        json_codec.loads(b'{"a": ')


def test_a_long_digit_run_inside_a_string_still_decodes() -> None:
    value = {"id": "1" * 40, "n": 1733400000123456789}
    assert json_codec.loads(json_codec.dumps(value)) == value


def test_nineteen_digit_negative_within_i64_stays_exact() -> None:
    decoded = json_codec.loads(b'{"n": -9223372036854775808}')
    assert decoded == {"n": -9223372036854775808} and type(decoded["n"]) is int
