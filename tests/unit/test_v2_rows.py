"""v2 Postgres rows → ClickHouse rows (domain.v2_rows), as the background copy writes them."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from langfuse_aio.domain.api_views import observation_to_api, score_to_api, trace_to_api_base
from langfuse_aio.domain.v2_rows import json_text, metadata_map, observation_row, score_row, trace_row

T = datetime(2024, 11, 20, 10, 0, 1, 234000)  # naive UTC, as Postgres timestamp(3) comes back


def v2_trace(**overrides: Any) -> dict[str, Any]:
    row = {"id": "t1", "timestamp": T, "name": None, "user_id": None, "metadata": None, "release": None,
           "version": None, "project_id": "p", "public": False, "bookmarked": False, "tags": None, "input": None,
           "output": None, "session_id": None, "created_at": T, "updated_at": T}
    return row | overrides


def v2_observation(**overrides: Any) -> dict[str, Any]:
    row = {"id": "o1", "trace_id": None, "project_id": "p", "type": "GENERATION", "parent_observation_id": None,
           "start_time": T, "end_time": None, "name": None, "metadata": None, "level": "DEFAULT",
           "status_message": None, "version": None, "input": None, "output": None, "model": None,
           "internal_model_id": None, "model_parameters": None, "prompt_tokens": 0, "completion_tokens": 0,
           "total_tokens": 0, "completion_start_time": None, "prompt_id": None, "prompt_name": None,
           "prompt_version": None, "input_cost": None, "output_cost": None, "total_cost": None,
           "calculated_input_cost": None, "calculated_output_cost": None, "calculated_total_cost": None,
           "created_at": T, "updated_at": T}
    return row | overrides


def v2_score(**overrides: Any) -> dict[str, Any]:
    row = {"id": "s1", "timestamp": T, "project_id": "p", "trace_id": "t1", "observation_id": None, "name": "q",
           "value": 0.5, "source": "API", "comment": None, "author_user_id": None, "config_id": None,
           "data_type": "NUMERIC", "string_value": None, "queue_id": None, "created_at": T, "updated_at": T}
    return row | overrides


def test_times_become_utc_aware_and_event_ts_is_the_entity_time() -> None:
    aware = T.replace(tzinfo=UTC)
    trace = trace_row(v2_trace())
    assert trace["timestamp"] == trace["event_ts"] == trace["created_at"] == aware
    assert trace["timestamp"].tzinfo is UTC
    observation = observation_row(v2_observation(created_at=datetime(2025, 1, 1)))
    assert observation["event_ts"] == observation["start_time"] == aware
    assert score_row(v2_score())["event_ts"] == aware


def test_nulls_get_the_column_defaults_and_later_columns_their_defaults() -> None:
    trace = trace_row(v2_trace())
    assert (trace["name"], trace["tags"], trace["metadata"], trace["environment"], trace["is_deleted"]) == (
        "", [], {}, "default", 0)
    observation = observation_row(v2_observation())
    assert (observation["trace_id"], observation["name"], observation["environment"]) == ("", "", "default")
    score = score_row(v2_score(value=None, data_type="CATEGORICAL", string_value="a"))
    assert (score["value"], score["metadata"], score["session_id"], score["environment"]) == (0.0, {}, None, "default")


@pytest.mark.parametrize(("metadata", "expected"), [
    ({"a": "x", "n": None, "f": 1.5, "b": True, "o": {"k": [1, None]}},
     {"a": "x", "n": "null", "f": "1.5", "b": "true", "o": '{"k":[1,null]}'}),
    (["a", 1, None], {"metadata": '["a",1,null]'}),
    ("just text", {"metadata": "just text"}),
    (7, {"metadata": "7"}),
    (True, {}),
    (None, {}),
    ({}, {}),
])
def test_metadata_is_the_map_live_ingestion_builds(metadata: Any, expected: dict[str, str]) -> None:
    assert metadata_map(metadata) == expected


def test_input_output_keep_json_text_so_strings_read_back_as_strings() -> None:
    assert json_text("null") is None and json_text(None) is None
    trace = trace_to_api_base(trace_row(v2_trace(input='"123"', output="0")))
    assert trace["input"] == "123" and trace["output"] == 0  # a JSON-looking v2 string stays a string
    obs = observation_to_api(observation_row(v2_observation(input='{"a": [1, 2]}', model_parameters='{"t": 0.7}')))
    assert obs["input"] == {"a": [1, 2]} and obs["modelParameters"] == {"t": 0.7}


def test_usage_always_has_input_output_total_and_negative_counts_are_zero() -> None:
    row = observation_row(v2_observation(prompt_tokens=12, completion_tokens=-1, total_tokens=12))
    assert row["usage_details"] == {"input": 12, "output": 0, "total": 12}
    assert row["provided_usage_details"] == {}
    assert observation_row(v2_observation(type="SPAN"))["usage_details"] == {"input": 0, "output": 0, "total": 0}


def test_costs_come_from_calculated_and_provided_columns_without_null_entries() -> None:
    row = observation_row(v2_observation(
        input_cost=Decimal("0.5"), calculated_input_cost=Decimal("0.500000000000000000000000000001"),
        calculated_total_cost=Decimal("0.1234567890129999"),
    ))
    assert row["provided_cost_details"] == {"input": Decimal("0.5")}
    assert row["cost_details"] == {"input": Decimal("0.5"), "total": Decimal("0.123456789012")}
    assert row["total_cost"] == Decimal("0.123456789012")
    api = observation_to_api(observation_row(v2_observation()))
    assert api["calculatedTotalCost"] is None and api["costDetails"] == {}  # as v2 and live show it
    huge = observation_row(v2_observation(calculated_total_cost=Decimal("1000000")))
    assert huge["total_cost"] is None and huge["cost_details"] == {}


def test_score_enums_and_values_map_one_to_one() -> None:
    api = score_to_api(score_row(v2_score(source="ANNOTATION", data_type="BOOLEAN", value=1.0, string_value="True",
                                          queue_id="q", config_id="c", author_user_id="u")))
    assert (api["source"], api["dataType"], api["value"], api["stringValue"]) == ("ANNOTATION", "BOOLEAN", 1.0, "True")
    assert (api["queueId"], api["configId"], api["authorUserId"]) == ("q", "c", "u")
