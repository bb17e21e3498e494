"""Pure rules of the score reads and score configs: query parsing, cursors, shapes, config bodies."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from werkzeug.datastructures import MultiDict

from langfuse_aio.domain.query_params import InvalidQueryError
from langfuse_aio.domain.score_config_rules import (
    MSG_MAX_NOT_ABOVE_MIN,
    InvalidScoreConfigError,
    config_for_inflation,
    config_to_api,
    named_config_ids,
    parse_new_config,
    stored_config_problem,
)
from langfuse_aio.domain.score_filters import decode_cursor, encode_cursor, v1_filter, v2_filter, v3_filter
from langfuse_aio.domain.score_inflation import ScoreConfig
from langfuse_aio.domain.score_views import is_renderable, score_subject, score_v2_list_item, score_v3
from tests.support.openapi import assert_valid

T0 = datetime(2024, 11, 5, 10, 11, 12, 345000, tzinfo=UTC)


def args(**values: str) -> MultiDict[str, str]:
    return MultiDict(values)


def test_operator_without_value_and_value_without_operator_are_ignored() -> None:
    assert v1_filter(args(operator=">")).value_operator is None
    assert v1_filter(args(value="1")).value_operator is None
    assert v1_filter(args(operator=">", value="1")).value_operator == (">", 1.0)


def test_operator_leaves_the_timestamp_bounds_alone() -> None:
    f = v1_filter(args(operator=">=", value="0.5", toTimestamp="2024-11-05T10:00:00Z"))
    assert f.to_timestamp == datetime(2024, 11, 5, 10, tzinfo=UTC) and f.value_operator == (">=", 0.5)


def test_v1_lists_only_trace_scores_and_v2_also_session_scores() -> None:
    assert v1_filter(args()).traces_only
    assert not v2_filter(args())[0].traces_only


def test_cursor_round_trip_keeps_milliseconds() -> None:
    cursor = decode_cursor(encode_cursor(T0, "id/with?odd=chars"))
    assert cursor is not None and cursor.timestamp == T0 and cursor.id == "id/with?odd=chars"
    assert "=" not in encode_cursor(T0, "x") and "+" not in encode_cursor(T0, "x" * 50)


@pytest.mark.parametrize("raw", ["%%%", "bm90IGpzb24", "eyJ0IjoxfQ", "eyJ0IjoiYSIsImlkIjoiYiJ9"])
def test_foreign_cursors_are_400(raw: str) -> None:
    with pytest.raises(InvalidQueryError) as error:
        decode_cursor(raw)
    assert error.value.name == "cursor"


def test_v3_parses_case_insensitive_lists_and_typed_values() -> None:
    f, limit, fields = v3_filter(args(source="api,Eval", dataType="boolean", value="true,false", fields="details"))
    assert (f.sources, f.data_types, f.numeric_values) == (("API", "EVAL"), ("BOOLEAN",), (1.0, 0.0))
    assert limit == 50 and fields == {"details"}
    assert v3_filter(args(dataType="CATEGORICAL", value="a,b"))[0].string_values == ("a", "b")
    assert v3_filter(args(experimentId="e"))[0].match_nothing


def row(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "s", "project_id": "p", "trace_id": "t", "observation_id": None, "session_id": None, "name": "n",
        "value": 1.0, "string_value": None, "data_type": "NUMERIC", "source": "API", "comment": None,
        "metadata": {}, "author_user_id": None, "config_id": None, "queue_id": None, "environment": "default",
        "timestamp": T0, "created_at": T0, "updated_at": T0,
    }
    return base | overrides


def test_v3_value_follows_the_data_type() -> None:
    assert score_v3(row(value=0.0, data_type="BOOLEAN", string_value="False"))["value"] is False
    assert score_v3(row(value=2.0, data_type="CATEGORICAL", string_value="b"))["value"] == "b"
    assert score_v3(row(value=0.25))["value"] == 0.25
    for item in (score_v3(row()), score_v3(row(data_type="BOOLEAN"), ("details", "subject", "annotation"))):
        assert_valid(item, "ScoreV3", spec="openapi-current.yml")


def test_subject_names_what_the_score_is_attached_to() -> None:
    assert score_subject(row(observation_id="o")) == {"kind": "observation", "id": "o", "traceId": "t"}
    assert score_subject(row(trace_id="", session_id="sess")) == {"kind": "session", "id": "sess"}
    assert score_subject(row(trace_id="")) is None


def test_v2_session_score_has_no_trace() -> None:
    item = score_v2_list_item(row(trace_id="", session_id="sess"), None, with_trace=True)
    assert item["traceId"] is None and item["trace"] is None and item["sessionId"] == "sess"
    assert_valid(item, "GetScoresResponseData", spec="openapi-current.yml")


def test_unrenderable_rows() -> None:
    assert not is_renderable(row(value=float("nan")))
    assert not is_renderable(row(data_type="CATEGORICAL"))
    assert not is_renderable(row(data_type="TEXT"))
    assert is_renderable(row(data_type="CATEGORICAL", string_value="x", value=0.0))


def test_boolean_config_gets_true_and_false_categories() -> None:
    config = parse_new_config({"name": "ok", "dataType": "BOOLEAN", "categories": None, "minValue": 3})
    assert config.categories == ({"label": "True", "value": 1}, {"label": "False", "value": 0})
    assert config.min_value is None


def test_numeric_bounds_must_be_ordered() -> None:
    with pytest.raises(InvalidScoreConfigError) as error:
        parse_new_config({"name": "n", "dataType": "NUMERIC", "minValue": 2, "maxValue": 1})
    assert error.value.problem == MSG_MAX_NOT_ABOVE_MIN
    assert error.value.response_body()["error"][0]["path"] == ["maxValue"]
    assert parse_new_config({"name": "n", "dataType": "NUMERIC", "maxValue": 1}).max_value == 1.0


def stored(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "c", "project_id": "p", "name": "tone", "data_type": "CATEGORICAL", "is_archived": False,
        "min_value": None, "max_value": None, "categories": [{"label": "a", "value": 1}], "description": None,
        "created_at": datetime(2024, 11, 5), "updated_at": datetime(2024, 11, 5),
    }
    return base | overrides


def test_stored_rows_are_checked_before_use() -> None:
    assert stored_config_problem(stored()) is None
    assert stored_config_problem(stored(categories=None)) is not None
    assert stored_config_problem(stored(name="x" * 36)) is not None
    assert config_for_inflation(stored(categories=[])) is None
    assert config_for_inflation(stored(is_archived=True)) == ScoreConfig(
        id="c", name="tone", data_type="CATEGORICAL", is_archived=True, categories=(("a", 1.0),))
    api = config_to_api(stored())
    assert api["createdAt"] == "2024-11-05T00:00:00.000Z"
    assert_valid(api, "ScoreConfig", spec="openapi-current.yml")


def test_deletion_takes_the_lock_the_worker_takes() -> None:
    from langfuse_aio.services.processing import _lock_name
    from langfuse_aio.services.score_deletion import score_lock_name

    assert score_lock_name("p", "s/1") == _lock_name("p", ("score", "s/1"))


def test_named_config_ids_takes_string_config_ids_of_event_bodies_only() -> None:
    events = [
        [{"body": {"configId": "c-1"}}, {"body": {"configId": 7}}, {"body": "not an object"}],
        [{"body": {"configId": "c-2"}}, {"body": {}}, {"id": "no body"}, {"body": {"configId": "c-1"}}],
    ]
    assert named_config_ids(events) == {"c-1", "c-2"}
    assert named_config_ids([]) == set()
