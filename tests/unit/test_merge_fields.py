"""Merge field rules: metadata (§2.7), usage and provided costs (§3.4, §3.5 Case 1), scores (§5.2)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from langfuse_aio.domain.merge import ScoreConfig, UnprocessableEntity
from langfuse_aio.domain.metadata import (
    js_json,
    js_number,
    lodash_merge,
    merge_metadata,
    normalise_metadata,
    stringify,
)
from tests.unit.merge_helpers import at, event, merge

# -- metadata --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("hello", {"metadata": "hello"}),
        (42, {"metadata": "42"}),
        (1.0, {"metadata": "1"}),
        (1e-7, {"metadata": "1e-7"}),
        (["a", 1], {"metadata": '["a",1]'}),
        ([], {"metadata": "[]"}),
        ({"s": "x", "n": 1, "b": False, "z": None, "o": {"bar": "baz"}, "l": [1, 2.5]},
         {"s": "x", "n": "1", "b": "false", "z": "null", "o": '{"bar":"baz"}', "l": "[1,2.5]"}),
        ({}, {}),
        (True, {}),
        (False, {}),
        (0, {}),
        ("", {}),
        (None, {}),
    ],
)
def test_metadata_normalisation(value: Any, stored: dict[str, str]) -> None:
    assert normalise_metadata(value) == stored


def test_metadata_deep_merge_follows_lodash() -> None:
    first = event("trace-create", at(1), id="t", metadata={"arr": [1, 2, 3], "obj": {"x": 1, "y": {"z": 1}}, "s": "a"})
    second = event("trace-create", at(2), id="t", metadata={"arr": [9], "obj": {"y": {"w": 2}}, "n": None})
    row = merge("trace", "t", [second, first]).row
    assert row["metadata"] == {
        "arr": "[9,2,3]",
        "obj": '{"x":1,"y":{"z":1,"w":2}}',
        "s": "a",
        "n": "null",
    }


def test_metadata_later_scalar_replaces_container_and_vice_versa() -> None:
    assert merge_metadata({"k": '{"a":1}'}, {"k": "plain"}) == {"k": "plain"}
    assert merge_metadata({"k": "plain"}, {"k": '{"a": 1}'}) == {"k": '{"a": 1}'}
    assert merge_metadata({"k": '"quoted"'}, {"j": "1"}) == {"k": '"quoted"', "j": "1"}
    assert merge_metadata({"k": "{broken"}, {"k": "{also broken"}) == {"k": "{also broken"}


def test_lodash_merge_edge_cases() -> None:
    assert lodash_merge([1, 2, 3], [9]) == [9, 2, 3]
    assert lodash_merge({"a": [1, {"b": 1}]}, {"a": [None, {"c": 2}]}) == {"a": [None, {"b": 1, "c": 2}]}
    assert lodash_merge({"a": 1}, {"a": [1]}) == {"a": [1]}
    assert lodash_merge([1, 2], {"3": "x", "name": "dropped"}) == [1, 2, None, "x"]
    source = {"a": {"b": 1}}
    target = {"a": {"c": 2}}
    lodash_merge(target, source)
    assert target == {"a": {"c": 2}}  # inputs are not mutated


def test_js_number_and_json_text() -> None:
    assert [js_number(v) for v in (1.0, -0.0, 0.1 + 0.2, 1e21, 1e-6, 5e-324, 2.5e-8)] == [
        "1", "0", "0.30000000000000004", "1e+21", "0.000001", "5e-324", "2.5e-8",
    ]
    assert js_json({"é": "\n\"", "n": [1.0, True, None]}) == '{"é":"\\n\\"","n":[1,true,null]}'
    assert stringify({"x": [float("nan"), float("inf"), 1.5]}) == '{"x":[null,null,1.5]}'


def test_stringify_writes_what_json_stringify_writes_and_takes_long_integers() -> None:
    assert stringify({"é": "\n\t\x01\u2028", "small": 1e-7, "big": 1e22}) == (
        '{"é":"\\n\\t\\u0001\u2028","small":1e-7,"big":1e+22}')
    assert stringify([2**70, float("nan")]) == "[1180591620717411303424,null]"  # beyond orjson's 64 bits
    assert stringify("as is") == "as is"
    with pytest.raises(UnprocessableEntity):
        stringify({"x": object()})


# -- usage -----------------------------------------------------------------------------------------


def usage_row(**body: Any) -> dict[str, Any]:
    return merge("observation", "g", [event("generation-create", at(1), id="g", traceId="t", **body)]).row


@pytest.mark.parametrize(
    ("body", "provided", "usage"),
    [
        ({"usage": {"input": 5, "output": 7, "unit": "TOKENS"}}, {"input": 5, "output": 7, "total": 12},
         {"input": 5, "output": 7, "total": 12}),
        ({"usage": {"input": 5, "output": 7, "total": 20}}, {"input": 5, "output": 7, "total": 20},
         {"input": 5, "output": 7, "total": 20}),
        ({"usage": {"input": 0, "output": 5}}, {"input": 0, "output": 5, "total": 0},
         {"input": 0, "output": 5, "total": 0}),
        ({"usage": {"output": 5}}, {"output": 5, "total": 5}, {"output": 5, "total": 5}),
        ({"usage": {"input": 5.0, "output": None}}, {"input": 5, "total": 5}, {"input": 5, "total": 5}),
        ({"usage": {"input": 5, "output": 7}, "usageDetails": {"input": 8, "cache_read": 2}},
         {"input": 8, "output": 7, "cache_read": 2}, {"input": 8, "output": 7, "cache_read": 2, "total": 17}),
        ({"usageDetails": {"input": 12, "output": 3}}, {"input": 12, "output": 3},
         {"input": 12, "output": 3, "total": 15}),
        ({"usage": {"input": -1, "output": 4}}, {"output": 4, "total": 3}, {"output": 4, "total": 3}),
        ({}, {}, {}),
        ({"usage": None}, {}, {}),
    ],
)
def test_usage_forms(body: dict[str, Any], provided: dict[str, int], usage: dict[str, int]) -> None:
    row = usage_row(**body)
    assert row["provided_usage_details"] == provided
    assert row["usage_details"] == usage


def test_later_usage_replaces_earlier_usage_wholesale() -> None:
    create = event("generation-create", at(1), id="g", usage={"input": 5, "output": 7})
    update = event("generation-update", at(2), id="g", usageDetails={"output": 9})
    empty = event("generation-update", at(3), id="g", usage=None, name="n")
    row = merge("observation", "g", [create, update, empty]).row
    assert row["provided_usage_details"] == {"output": 9}
    assert row["usage_details"] == {"output": 9, "total": 9}


# -- provided costs (§3.5 Case 1) --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("costs", "details", "total"),
    [
        ({"input": 1, "output": 2}, {"input": "1", "output": "2", "total": "3"}, "3"),
        ({"total": 2}, {"total": "2"}, "2"),
        ({"output": 2}, {"output": "2", "total": "2"}, "2"),
        ({"input": 1, "total": 1}, {"input": "1", "total": "1"}, "1"),
        ({"input": 1, "cache": 0.5}, {"input": "1", "cache": "0.5"}, None),
    ],
)
def test_provided_cost_totals(costs: dict[str, float], details: dict[str, str], total: str | None) -> None:
    row = usage_row(costDetails=costs)
    assert row["provided_cost_details"] == {k: Decimal(v) for k, v in costs.items()}
    assert row["cost_details"] == {k: Decimal(v) for k, v in details.items()}
    assert row["total_cost"] == (None if total is None else Decimal(total))


def test_usage_costs_and_cost_details_merge() -> None:
    row = usage_row(usage={"input": 1, "inputCost": 0.0001, "outputCost": 0.0002}, costDetails={"output": 0.0005})
    assert row["provided_cost_details"] == {"input": Decimal("0.0001"), "output": Decimal("0.0005")}
    assert row["total_cost"] == Decimal("0.0006")
    assert str(row["total_cost"]) == "0.000600000000"


def test_no_provided_cost_leaves_costs_to_pricing() -> None:
    row = usage_row(usage={"input": 1, "output": 2})
    assert row["cost_details"] == {}
    assert row["provided_cost_details"] == {}
    assert row["total_cost"] is None


# -- scores --------------------------------------------------------------------------------------------


def score_row(**body: Any) -> dict[str, Any]:
    events = [event("score-create", at(1), id="sc", traceId="t", name="q", source="API", **body)]
    return merge("score", "sc", events).row


def test_score_inflation_without_config() -> None:
    numeric = score_row(value=0.9)
    assert (numeric["value"], numeric["string_value"], numeric["data_type"]) == (0.9, None, "NUMERIC")
    boolean = score_row(value=1, dataType="BOOLEAN")
    assert (boolean["value"], boolean["string_value"], boolean["data_type"]) == (1.0, "True", "BOOLEAN")
    assert score_row(value=0, dataType="BOOLEAN")["string_value"] == "False"
    categorical = score_row(value="good")
    assert (categorical["value"], categorical["string_value"], categorical["data_type"]) == (0.0, "good", "CATEGORICAL")
    assert score_row(value=3)["source"] == "API"
    assert score_row(value=3, comment="c")["comment"] == "c"


@pytest.mark.parametrize(
    "body",
    [
        {"value": "good", "dataType": "NUMERIC"},
        {"value": 1, "dataType": "CATEGORICAL"},
        {"value": 2, "dataType": "BOOLEAN"},
        {"value": None},
        {"value": True},
        {"value": 1, "dataType": "PERCENT"},
    ],
)
def test_score_value_that_does_not_fit_is_unprocessable(body: dict[str, Any]) -> None:
    with pytest.raises(UnprocessableEntity):
        score_row(**body)


def test_later_score_replaces_value_type_and_clears_comment_explicitly() -> None:
    first = event("score-create", at(1), id="sc", traceId="t", name="q", value=0.5, comment="keep")
    second = event("score-create", at(2), id="sc", traceId="t", name="q", value="good")
    row = merge("score", "sc", [first, second]).row
    assert (row["value"], row["string_value"], row["data_type"], row["comment"]) == (0.0, "good", "CATEGORICAL", "keep")
    third = event("score-create", at(3), id="sc", traceId="t", name="q", value=1, comment=None)
    row = merge("score", "sc", [first, second, third]).row
    assert (row["value"], row["string_value"], row["data_type"], row["comment"]) == (1.0, None, "NUMERIC", None)


CONFIGS = {
    "num": ScoreConfig("num", "accuracy", "NUMERIC", min_value=0, max_value=1),
    "cat": ScoreConfig("cat", "tone", "CATEGORICAL", categories=(("good", 1), ("bad", 0))),
    "bool": ScoreConfig("bool", "correct", "BOOLEAN"),
    "old": ScoreConfig("old", "legacy", "NUMERIC", is_archived=True),
}


def config_row(**body: Any) -> dict[str, Any]:
    events = [event("score-create", at(1), id="sc", traceId="t", name="given", **body)]
    return merge("score", "sc", events, score_configs=CONFIGS).row


def test_score_inflation_with_config() -> None:
    numeric = config_row(value=1, configId="num")
    assert (numeric["name"], numeric["value"], numeric["config_id"]) == ("accuracy", 1.0, "num")
    categorical = config_row(value="good", configId="cat")
    assert (categorical["name"], categorical["value"], categorical["string_value"]) == ("tone", 1.0, "good")
    boolean = config_row(value=0, configId="bool")
    assert (boolean["data_type"], boolean["string_value"]) == ("BOOLEAN", "False")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"value": 1, "configId": "missing"}, "does not match a valid config"),
        ({"value": 1.5, "configId": "num"}, "Value exceeds maximum value of 1 defined in config"),
        ({"value": -1, "configId": "num"}, "Value is below minimum value of 0 defined in config"),
        ({"value": "meh", "configId": "cat"}, "Value meh does not map to a valid category"),
        ({"value": 1, "configId": "cat"}, "not valid against provided config data type"),
        ({"value": 1, "configId": "num", "dataType": "BOOLEAN"}, "expected NUMERIC, got BOOLEAN"),
        ({"value": 1, "configId": "old"}, "archived"),
    ],
)
def test_score_against_config_is_validated(body: dict[str, Any], message: str) -> None:
    with pytest.raises(UnprocessableEntity) as caught:
        config_row(**body)
    assert message in caught.value.reason
