"""ClickHouse rows → public API objects: values, and shapes checked against Langfuse's OpenAPI
(v3.0.0, tests/fixtures) and the fields the Python SDKs (v2.60.10, v5.0.4) require."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from langfuse_aio.domain.api_views import (
    format_datetime,
    observation_to_api,
    parse_json_if_possible,
    parse_metadata,
    score_to_api,
    trace_to_api,
)
from tests.support.openapi import assert_valid, assert_valid_response, schema_errors

T0 = datetime(2024, 11, 5, 10, 11, 12, 345000, tzinfo=UTC)
ISO_T0 = "2024-11-05T10:11:12.345Z"

# Required fields of the SDK response models (docs: sdk-samples/response-models-required-fields-*.json).
# A missing (or, for these non-Optional fields, null) value makes the SDK's parse fail.
SDK_REQUIRED = {
    "TraceWithFullDetails": {"id", "timestamp", "htmlPath", "latency", "totalCost", "observations", "scores"},
    "ObservationsView": {"id", "type", "startTime", "level"},
    "Usage": {"input", "output", "total"},  # py v5
    "NUMERIC": {"id", "traceId", "name", "source", "timestamp", "createdAt", "updatedAt", "environment", "value"},
    "BOOLEAN": {"id", "traceId", "name", "source", "timestamp", "createdAt", "updatedAt", "environment", "value",
                "stringValue"},
    "CATEGORICAL": {"id", "traceId", "name", "source", "timestamp", "createdAt", "updatedAt", "environment",
                    "value", "stringValue"},
}
# Keys the current OpenAPI document requires to be present (their value may be null).
CURRENT_REQUIRED_KEYS = {
    "Trace": {"id", "timestamp", "name", "sessionId", "release", "version", "userId", "tags", "public",
              "environment"},
    "ObservationsView": {
        "id", "traceId", "type", "name", "startTime", "endTime", "completionStartTime", "model", "modelParameters",
        "input", "version", "metadata", "output", "usage", "level", "statusMessage", "parentObservationId",
        "promptId", "usageDetails", "costDetails", "environment", "promptName", "promptVersion", "modelId",
        "inputPrice", "outputPrice", "totalPrice", "calculatedInputCost", "calculatedOutputCost",
        "calculatedTotalCost", "latency", "timeToFirstToken",
    },
    "ScoreV1": {"id", "traceId", "name", "source", "timestamp", "createdAt", "updatedAt", "authorUserId", "comment",
                "metadata", "configId", "queueId", "environment", "dataType"},
}


def trace_row(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": "trace-1",
        "timestamp": T0,
        "name": "chat",
        "user_id": "user-1",
        "metadata": {"env": "prod", "n": "123", "flag": "true", "nested": '{"a":[1,2]}', "text": "plain"},
        "release": None,
        "version": "v1",
        "project_id": "project-1",
        "environment": "staging",
        "public": True,
        "bookmarked": False,
        "tags": ["a", "b"],
        "input": '{"q": "hi"}',
        "output": "just text",
        "session_id": "session-1",
        "created_at": T0,
        "updated_at": T0 + timedelta(seconds=1),
        "event_ts": T0,
        "is_deleted": 0,
    }
    return row | overrides


def observation_row(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": "obs-1",
        "trace_id": "trace-1",
        "project_id": "project-1",
        "environment": "default",
        "type": "GENERATION",
        "parent_observation_id": None,
        "start_time": T0,
        "end_time": T0 + timedelta(milliseconds=1500),
        "name": "llm",
        "metadata": {"k": "[1, 2]"},
        "level": "DEFAULT",
        "status_message": None,
        "version": None,
        "input": '[{"role": "user", "content": "hi"}]',
        "output": '"quoted"',
        "provided_model_name": "gpt-4o",
        "internal_model_id": "model-1",
        "model_parameters": '{"temperature": 0.2, "max_tokens": 100, "stream": false, "stop": ["x"]}',
        "provided_usage_details": {"input": 10},
        "usage_details": {"input": 10, "input_cached_tokens": 5, "output": 20, "total": 35},
        "provided_cost_details": {},
        "cost_details": {
            "input": Decimal("0.000001234567"), "output": Decimal("0.1"), "total": Decimal("0.100001234567"),
        },
        "total_cost": Decimal("0.100001234567"),
        "completion_start_time": T0 + timedelta(milliseconds=250),
        "prompt_id": "prompt-1",
        "prompt_name": "p",
        "prompt_version": 3,
        "created_at": T0,
        "updated_at": T0,
        "event_ts": T0,
        "is_deleted": 0,
    }
    return row | overrides


def score_row(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": "score-1",
        "timestamp": T0,
        "project_id": "project-1",
        "environment": "default",
        "trace_id": "trace-1",
        "observation_id": None,
        "name": "quality",
        "value": 0.75,
        "source": "API",
        "comment": "good",
        "author_user_id": None,
        "config_id": None,
        "data_type": "NUMERIC",
        "string_value": None,
        "queue_id": None,
        "created_at": T0,
        "updated_at": T0,
        "event_ts": T0,
        "is_deleted": 0,
    }
    return row | overrides


def scores_of_every_type() -> list[dict[str, Any]]:
    return [
        score_row(),
        score_row(id="score-2", data_type="BOOLEAN", value=1.0, string_value="True", observation_id="obs-1"),
        score_row(id="score-3", data_type="CATEGORICAL", value=0.0, string_value="great", config_id=None),
    ]


def full_trace() -> dict[str, Any]:
    observations = [
        observation_row(),
        observation_row(
            id="obs-2", type="SPAN", start_time=T0 - timedelta(seconds=2), end_time=None, completion_start_time=None,
            provided_model_name=None, internal_model_id=None, model_parameters=None, usage_details={},
            cost_details={}, total_cost=None, prompt_id=None, prompt_name=None, prompt_version=None, input=None,
            output=None, metadata={}, parent_observation_id=None, level="ERROR", status_message="boom",
        ),
        observation_row(id="obs-3", type="EVENT", start_time=T0 + timedelta(seconds=4), end_time=None,
                        total_cost=None, cost_details={"total": Decimal("0.5")}, parent_observation_id="obs-2"),
    ]
    return trace_to_api(
        trace_row(), observations=observations, scores=scores_of_every_type(),
        prices_by_model={"model-1": {"input": Decimal("0.000005"), "output": Decimal("0.000015")}},
    )


# --- values ---------------------------------------------------------------------------------


def test_json_if_possible() -> None:
    assert parse_json_if_possible('{"a": [1, 2.5, null]}') == {"a": [1, 2.5, None]}
    assert parse_json_if_possible('"quoted"') == "quoted"
    assert parse_json_if_possible("plain text") == "plain text"
    assert parse_json_if_possible("123") == 123
    assert parse_json_if_possible("true") is True
    assert parse_json_if_possible("") == ""
    assert parse_json_if_possible(None) is None
    for not_json in ("NaN", "Infinity", "-Infinity", "[NaN]"):
        assert parse_json_if_possible(not_json) == not_json
    assert parse_metadata({"a": "1", "b": "x", "c": '{"d":{"e":null}}'}) == {"a": 1, "b": "x", "c": {"d": {"e": None}}}
    assert parse_metadata(None) == {}


def test_datetimes_are_utc_iso_with_milliseconds_and_z() -> None:
    assert format_datetime(T0) == ISO_T0
    assert format_datetime(T0.replace(microsecond=999)) == "2024-11-05T10:11:12.000Z"
    assert format_datetime(datetime(2024, 1, 1, 1, tzinfo=UTC).astimezone(UTC)) == "2024-01-01T01:00:00.000Z"
    assert format_datetime(None) is None


def test_trace_values() -> None:
    trace = full_trace()
    assert trace["id"] == "trace-1" and trace["projectId"] == "project-1"
    assert trace["timestamp"] == ISO_T0
    assert trace["updatedAt"] == "2024-11-05T10:11:13.345Z"
    assert trace["input"] == {"q": "hi"}
    assert trace["output"] == "just text"
    assert trace["metadata"] == {"env": "prod", "n": 123, "flag": True, "nested": {"a": [1, 2]}, "text": "plain"}
    assert (trace["sessionId"], trace["userId"], trace["release"], trace["version"]) == (
        "session-1", "user-1", None, "v1")
    assert (trace["tags"], trace["public"], trace["bookmarked"]) == (["a", "b"], True, False)
    assert (trace["environment"], trace["externalId"]) == ("staging", None)
    assert trace["htmlPath"] == "/project/project-1/traces/trace-1"
    # earliest start (obs-2, T0-2s) to latest start/end (obs-3 starts at T0+4s)
    assert trace["latency"] == 6.0
    assert trace["totalCost"] == pytest.approx(0.600001234567)
    assert [o["id"] for o in trace["observations"]] == ["obs-1", "obs-2", "obs-3"]
    assert [s["id"] for s in trace["scores"]] == ["score-1", "score-2", "score-3"]


def test_trace_without_observations_has_zero_latency_and_cost() -> None:
    trace = trace_to_api(trace_row(input=None, output=None, metadata={}, tags=[]), observations=[], scores=[],
                         base_path="/langfuse/")
    assert (trace["latency"], trace["totalCost"], trace["observations"], trace["scores"]) == (0.0, 0.0, [], [])
    assert (trace["input"], trace["output"], trace["metadata"], trace["tags"]) == (None, None, {}, [])
    assert trace["htmlPath"] == "/langfuse/project/project-1/traces/trace-1"


def test_observation_values() -> None:
    obs = observation_to_api(observation_row(), prices={"input": Decimal("0.000005"), "total": None})
    assert (obs["startTime"], obs["endTime"], obs["completionStartTime"]) == (
        ISO_T0, "2024-11-05T10:11:13.845Z", "2024-11-05T10:11:12.595Z")
    assert obs["latency"] == 1.5  # seconds, not Langfuse v3.0.0's milliseconds
    assert obs["timeToFirstToken"] == 0.25
    assert obs["input"] == [{"role": "user", "content": "hi"}]
    assert obs["output"] == "quoted"
    assert obs["metadata"] == {"k": [1, 2]}
    assert obs["modelParameters"] == {"temperature": 0.2, "max_tokens": 100, "stream": False, "stop": ["x"]}
    assert (obs["model"], obs["modelId"]) == ("gpt-4o", "model-1")
    assert (obs["promptId"], obs["promptName"], obs["promptVersion"]) == ("prompt-1", "p", 3)
    assert obs["usage"] == {"unit": "TOKENS", "input": 15, "output": 20, "total": 35}
    assert (obs["unit"], obs["promptTokens"], obs["completionTokens"], obs["totalTokens"]) == ("TOKENS", 15, 20, 35)
    assert obs["usageDetails"] == {"input": 10, "input_cached_tokens": 5, "output": 20, "total": 35}
    assert obs["costDetails"] == {"input": 0.000001234567, "output": 0.1, "total": 0.100001234567}
    assert (obs["calculatedInputCost"], obs["calculatedOutputCost"], obs["calculatedTotalCost"]) == (
        0.000001234567, 0.1, 0.100001234567)
    assert (obs["inputPrice"], obs["outputPrice"], obs["totalPrice"]) == (0.000005, None, None)
    assert (obs["environment"], obs["projectId"], obs["traceId"]) == ("default", "project-1", "trace-1")


def test_observation_without_usage_or_timings() -> None:
    obs = observation_to_api(observation_row(
        end_time=None, completion_start_time=None, usage_details={}, cost_details={"total": Decimal(0)},
        model_parameters=None, input=None, output=None, metadata={}, internal_model_id=None,
    ))
    assert (obs["latency"], obs["timeToFirstToken"], obs["endTime"]) == (None, None, None)
    assert obs["usage"] == {"unit": "TOKENS", "input": 0, "output": 0, "total": 0}
    assert (obs["calculatedInputCost"], obs["calculatedOutputCost"]) == (None, None)
    assert obs["calculatedTotalCost"] == 0.0  # a cost of exactly 0 is 0, not null
    assert (obs["modelParameters"], obs["input"], obs["output"], obs["metadata"]) == (None, None, None, {})
    assert (obs["inputPrice"], obs["modelId"]) == (None, None)


def test_score_values() -> None:
    numeric, boolean, categorical = (score_to_api(r) for r in scores_of_every_type())
    assert numeric["dataType"] == "NUMERIC" and numeric["value"] == 0.75 and numeric["stringValue"] is None
    assert (numeric["timestamp"], numeric["comment"], numeric["metadata"], numeric["environment"]) == (
        ISO_T0, "good", {}, "default")
    assert (boolean["value"], boolean["stringValue"], boolean["observationId"]) == (1.0, "True", "obs-1")
    assert (categorical["value"], categorical["stringValue"]) == (0.0, "great")
    derived = score_to_api(score_row(data_type="BOOLEAN", value=0.0, string_value=None))
    assert derived["stringValue"] == "False"


def test_scores_langfuse_cannot_show_are_left_out_of_a_trace() -> None:
    trace = trace_to_api(trace_row(), observations=[], scores=[
        score_row(),
        score_row(id="bad-type", data_type="TEXT"),
        score_row(id="no-category", data_type="CATEGORICAL", string_value=None),
        score_row(id="nan", value=float("nan")),
    ])
    assert [s["id"] for s in trace["scores"]] == ["score-1"]


# --- shapes ---------------------------------------------------------------------------------


def test_trace_validates_against_openapi_v3_0_0() -> None:
    trace = full_trace()
    assert_valid(trace, "TraceWithFullDetails")
    assert_valid_response(trace, "/api/public/traces/{traceId}")
    for obs in trace["observations"]:
        assert_valid(obs, "ObservationsView")
        assert_valid(obs["usage"], "Usage")
    for score in trace["scores"]:
        assert_valid(score, "Score")


def test_observation_and_score_routes_validate_against_openapi_v3_0_0() -> None:
    assert_valid_response(observation_to_api(observation_row()), "/api/public/observations/{observationId}")
    for row in scores_of_every_type():
        assert_valid_response(score_to_api(row), "/api/public/scores/{scoreId}")


def test_the_validator_catches_wrong_shapes() -> None:
    obs = observation_to_api(observation_row())
    assert schema_errors({**obs, "level": "LOUD"}, "ObservationsView")
    assert schema_errors({**obs, "startTime": "yesterday"}, "ObservationsView")
    assert schema_errors({k: v for k, v in obs.items() if k != "startTime"}, "ObservationsView")
    score = score_to_api(score_row())
    assert schema_errors({**score, "value": None}, "Score")
    assert schema_errors({**score, "dataType": "TEXT"}, "Score")
    with pytest.raises(ValueError):  # not JSON: the body must be what goes on the wire
        schema_errors({**score, "value": float("nan")}, "Score")
    with pytest.raises(TypeError):
        schema_errors({**score, "timestamp": T0}, "Score")


def _assert_present(obj: dict[str, Any], keys: set[str], *, non_null: bool, what: str) -> None:
    missing = sorted(keys - obj.keys())
    assert not missing, f"{what} lacks {missing}"
    if non_null:
        nulls = sorted(k for k in keys if obj[k] is None)
        assert not nulls, f"{what} has null required fields {nulls}"


def test_sdk_required_fields_are_present_and_not_null() -> None:
    trace = json.loads(json.dumps(full_trace()))
    _assert_present(trace, SDK_REQUIRED["TraceWithFullDetails"], non_null=True, what="trace")
    for obs in trace["observations"]:
        _assert_present(obs, SDK_REQUIRED["ObservationsView"], non_null=True, what=obs["id"])
        _assert_present(obs["usage"], SDK_REQUIRED["Usage"], non_null=True, what=f"{obs['id']}.usage")
        assert all(isinstance(obs["usage"][k], int) for k in SDK_REQUIRED["Usage"])
    for score in trace["scores"]:
        _assert_present(score, SDK_REQUIRED[score["dataType"]], non_null=True, what=score["id"])
        assert isinstance(score["value"], float)


def test_keys_required_by_the_current_openapi_document_are_present() -> None:
    trace = full_trace()
    _assert_present(trace, CURRENT_REQUIRED_KEYS["Trace"] | {"htmlPath", "observations", "scores"},
                    non_null=False, what="trace")
    for obs in trace["observations"]:
        _assert_present(obs, CURRENT_REQUIRED_KEYS["ObservationsView"], non_null=False, what=obs["id"])
    for score in trace["scores"]:
        _assert_present(score, CURRENT_REQUIRED_KEYS["ScoreV1"], non_null=False, what=score["id"])
