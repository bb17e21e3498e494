"""The structured `filter` parameter: parsing, checks and precedence over the individual parameters."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from langfuse_aio.domain.filter_columns import OBSERVATION_V1_COLUMNS, OBSERVATION_V2_COLUMNS, TRACE_COLUMNS
from langfuse_aio.domain.observation_filters import parse_v1, parse_v2_filter
from langfuse_aio.domain.query_params import InvalidQueryError
from langfuse_aio.domain.structured_filter import Condition, holds_for, parse_filter
from langfuse_aio.domain.trace_filters import parse_trace_list
from tests.unit.test_query_params import args


def parse(*items: Any, columns: Any = TRACE_COLUMNS) -> tuple[Condition, ...]:
    return parse_filter(json.dumps(list(items)), columns)


def problem(raw: str, columns: Any = TRACE_COLUMNS) -> str:
    with pytest.raises(InvalidQueryError) as caught:
        parse_filter(raw, columns)
    assert caught.value.name == "filter"
    assert caught.value.response_body()["error"][0]["path"] == ["filter"]
    return caught.value.problem


def test_each_type_parses_to_a_typed_condition() -> None:
    conditions = parse(
        {"type": "datetime", "column": "timestamp", "operator": ">=", "value": "2024-01-01T00:00:00+02:00"},
        {"type": "string", "column": "userId", "operator": "starts with", "value": "us"},
        {"type": "number", "column": "totalCost", "operator": "<", "value": 1},
        {"type": "stringOptions", "column": "environment", "operator": "none of", "value": ["a", "b", "a"]},
        {"type": "arrayOptions", "column": "tags", "operator": "all of", "value": ["x"]},
        {"type": "stringObject", "column": "metadata", "key": "tier", "operator": "=", "value": "gold"},
        {"type": "numberObject", "column": "metadata", "key": "n", "operator": ">", "value": 2.5},
        {"type": "categoryOptions", "column": "score_categories", "key": "tone", "operator": "any of",
         "value": ["polite"]},
        {"type": "booleanObject", "column": "score_booleans", "key": "ok", "operator": "<>", "value": True},
        {"type": "boolean", "column": "bookmarked", "operator": "=", "value": False},
        {"type": "null", "column": "sessionId", "operator": "is null"},
    )
    assert conditions[0] == Condition(0, "timestamp", "datetime", ">=", datetime(2023, 12, 31, 22, tzinfo=UTC))
    assert conditions[2].value == 1.0 and isinstance(conditions[2].value, float)
    assert conditions[3].value == ("a", "b")  # repeated options once
    assert (conditions[5].key, conditions[5].value) == ("tier", "gold")
    assert conditions[9].value is False and conditions[10].value is None
    assert conditions[1].key is None
    hash(conditions)  # conditions key caches


def test_aliases_resolve_to_their_column() -> None:
    assert parse({"type": "number", "column": "tokens", "operator": ">", "value": 1})[0].column == "totalTokens"
    v2 = parse({"type": "arrayOptions", "column": "tags", "operator": "any of", "value": ["a"]},
               {"type": "string", "column": "providedModelName", "operator": "=", "value": "m"},
               columns=OBSERVATION_V2_COLUMNS)
    assert [c.column for c in v2] == ["traceTags", "model"]


@pytest.mark.parametrize(("raw", "words"), [
    ("not json", "not valid JSON"),
    ('{"type": "string"}', "JSON array"),
    ("[1]", "item 0"),
    ('[{"type": "string", "column": "name", "operator": "="}]', "`value` is required"),
    ('[{"column": "name", "operator": "=", "value": "x"}]', "`type` is required"),
    ('[{"type": "text", "column": "name", "operator": "=", "value": "x"}]', "unknown type"),
    ('[{"type": "string", "column": "nope", "operator": "=", "value": "x"}]', "unknown column 'nope'"),
    ('[{"type": "number", "column": "name", "operator": "=", "value": 1}]', "takes type"),
    ('[{"type": "string", "column": "name", "operator": ">", "value": "x"}]', "operator '>'"),
    ('[{"type": "string", "column": "name", "operator": "=", "value": 3}]', "must be a string"),
    ('[{"type": "number", "column": "latency", "operator": "=", "value": "3"}]', "finite number"),
    ('[{"type": "number", "column": "latency", "operator": "=", "value": true}]', "finite number"),
    ('[{"type": "number", "column": "latency", "operator": "=", "value": NaN}]', "not valid JSON"),
    ('[{"type": "datetime", "column": "timestamp", "operator": ">", "value": "yesterday"}]', "ISO 8601"),
    ('[{"type": "arrayOptions", "column": "tags", "operator": "any of", "value": "a"}]', "array of strings"),
    ('[{"type": "arrayOptions", "column": "tags", "operator": "any of", "value": [1]}]', "array of strings"),
    ('[{"type": "boolean", "column": "bookmarked", "operator": "=", "value": "true"}]', "true or false"),
    ('[{"type": "stringObject", "column": "metadata", "operator": "=", "value": "x"}]', "`key` is required"),
    ('[{"type": "stringObject", "column": "metadata", "key": "", "operator": "=", "value": "x"}]', "`key`"),
], ids=lambda v: v if len(v) < 30 else None)
def test_bad_filters_are_400s_naming_filter_and_the_item(raw: str, words: str) -> None:
    assert words in problem(raw)


def test_the_failing_item_is_named_by_index() -> None:
    good = {"type": "string", "column": "name", "operator": "=", "value": "x"}
    bad = {"type": "string", "column": "name", "operator": "any of", "value": "x"}
    assert problem(json.dumps([good, good, bad])).startswith("item 2: ")


def test_columns_and_operators_differ_per_route() -> None:
    scores = '[{"type": "numberObject", "column": "scores_avg", "key": "q", "operator": ">", "value": 1}]'
    assert parse_filter(scores, TRACE_COLUMNS)[0].key == "q"
    assert "unknown column" in problem(scores, OBSERVATION_V1_COLUMNS)
    root = '[{"type": "boolean", "column": "isRootObservation", "operator": "=", "value": true}]'
    assert parse_filter(root, OBSERVATION_V2_COLUMNS)[0].value is True
    assert "unknown column" in problem(root, OBSERVATION_V1_COLUMNS)
    matches = '[{"type": "string", "column": "output", "operator": "matches", "value": "needle"}]'
    assert parse_filter(matches, OBSERVATION_V2_COLUMNS)[0].operator == "matches"
    assert "operator 'matches'" in problem(
        '[{"type": "string", "column": "name", "operator": "matches", "value": "x"}]', OBSERVATION_V2_COLUMNS)


def test_input_and_output_need_an_exact_or_matches_condition_beside_them() -> None:
    contains = {"type": "string", "column": "input", "operator": "contains", "value": "x"}
    assert "`=` or `matches`" in problem(json.dumps([contains]), OBSERVATION_V2_COLUMNS)
    anchor = {"type": "string", "column": "output", "operator": "matches", "value": "y"}
    assert len(parse(contains, anchor, columns=OBSERVATION_V2_COLUMNS)) == 2


def test_empty_filter_is_no_condition() -> None:
    for raw in (None, "", " ", "[]"):
        assert parse_filter(raw, TRACE_COLUMNS) == ()


def test_a_condition_takes_precedence_over_the_parameter_for_its_column() -> None:
    flt = '[{"type": "string", "column": "userId", "operator": "contains", "value": "a"},' \
          ' {"type": "datetime", "column": "timestamp", "operator": "<", "value": "2024-01-01"}]'
    query = parse_trace_list(args(userId="bob", name="n", fromTimestamp="2023-01-01", filter=flt))
    assert query.filter.user_id is None and query.filter.from_timestamp is None  # replaced
    assert query.filter.name == "n" and len(query.filter.conditions) == 2  # ANDed

    v1, _ = parse_v1(args(name="n", environment="a,b", filter='[{"type": "stringOptions", "column": "environment",'
                                                              ' "operator": "any of", "value": ["c"]}]'))
    assert v1.environments == () and v1.name == "n"
    v2 = parse_v2_filter(args(parentObservationId="", filter='[{"type": "boolean", "column": "isRootObservation",'
                                                             ' "operator": "=", "value": false}]'))
    assert v2.has_parent is None and v2.conditions[0].value is False


def test_holds_for_a_trace_without_observations() -> None:
    def cond(type_: str, operator: str, value: Any) -> Condition:
        return Condition(0, "c", type_, operator, value)

    assert holds_for(cond("number", "<", 1.0), 0.0) and not holds_for(cond("number", ">", 0.0), 0.0)
    assert holds_for(cond("number", "=", 0.0), 0.0) and holds_for(cond("number", "<=", 0.0), 0.0)
    assert not holds_for(cond("string", "does not contain", "x"), None)  # NULL matches no comparison
    assert holds_for(cond("null", "is null", None), None) and not holds_for(cond("null", "is not null", None), None)
    assert not holds_for(cond("stringOptions", "none of", ("ERROR",)), None)
