"""Ingestion event validation (`POST /api/public/ingestion`), against Langfuse's rules and recorded SDK traffic."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import pytest

from langfuse_aio.domain.apikeys import AccessLevel
from langfuse_aio.domain.errors import InvalidRequestError
from langfuse_aio.domain.events import (
    BatchResult,
    EventError,
    InvalidBatchError,
    ValidEvent,
    group_by_entity,
    parse_ingestion_body,
    validate_batch,
    validate_event,
)
from langfuse_aio.domain.validation import epoch_us, is_iso_datetime, normalize_environment

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "sdk-samples"
BATCH_SAMPLES = (
    "py-v2.60.10-ingestion-batch1.json",
    "py-v2.60.10-ingestion-batch2-observe-decorator.json",
    "js-langfuse-3.39.2-ingestion-batch.json",
)
TS = "2024-05-01T10:00:00.000Z"


def sample_batch(name: str) -> list[Any]:
    batch = json.loads((SAMPLES / name).read_text())["body"]["batch"]
    assert isinstance(batch, list)
    return batch


def envelope(event_type: str, body: object, *, event_id: str = "ev-1", timestamp: str = TS) -> dict[str, Any]:
    return {"id": event_id, "type": event_type, "timestamp": timestamp, "body": body}


def valid(event_type: str, body: object, **kwargs: Any) -> ValidEvent:
    result = validate_event(envelope(event_type, body, **kwargs))
    assert isinstance(result, ValidEvent), result
    return result


def invalid(event_type: str, body: object, **kwargs: Any) -> EventError:
    result = validate_event(envelope(event_type, body, **kwargs))
    assert isinstance(result, EventError), result
    assert (result.status, result.message) == (400, "Invalid request data")
    return result


# --- recorded SDK traffic -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", BATCH_SAMPLES)
def test_every_recorded_sdk_event_validates(name: str) -> None:
    batch = sample_batch(name)
    result = validate_batch(batch, access_level="all")
    assert result.errors == ()
    assert len(result.events) == len(batch)
    assert {event.id for event in result.events} == {raw["id"] for raw in batch}


def test_py2_observe_decorator_snake_case_keys_are_stripped_not_rejected() -> None:
    batch = sample_batch("py-v2.60.10-ingestion-batch2-observe-decorator.json")
    assert "start_time" in batch[0]["body"] and "end_time" in batch[-1]["body"]
    result = validate_batch(batch, access_level="all")
    traces = [event for event in result.events if event.type == "trace-create"]
    assert len(traces) == 3
    assert all("start_time" not in event.body and "end_time" not in event.body for event in traces)
    assert traces[0].body["name"] == "decorated-root"


def test_recorded_bodies_are_normalised_as_langfuse_stores_them() -> None:
    events = {event.id: event for event in validate_batch(sample_batch(BATCH_SAMPLES[2]), access_level="all").events}
    legacy_usage = events["d97e1aac-4067-417c-9039-298e2ba8d87b"].body
    assert legacy_usage["usage"] == {"input": 5, "output": 7, "total": 12, "unit": "TOKENS"}
    assert legacy_usage["parentObservationId"] is None  # explicit nulls are kept
    score = events["9b9606e9-d40f-45d8-a7a1-3c7898684567"]
    assert score.body["source"] == "API" and score.body["observationId"] is None
    assert score.body["environment"] == "probe-env"
    update = events["4ee6025c-5592-431e-8267-32e45918e6e6"].body
    assert update["usageDetails"] == {"input": 12, "output": 3, "total": 15}
    assert update["costDetails"] == {"input": 0.0001, "output": 0.0002}
    assert update["usage"] is None  # zod's transform turns an absent usage into null
    assert "environment" not in update  # the JS SDK sends updates without it; not defaulted here


def test_py2_model_parameters_with_stringified_floats() -> None:
    batch = sample_batch(BATCH_SAMPLES[0])
    generation = validate_batch(batch, access_level="all").events[2]
    assert generation.body["modelParameters"] == {"temperature": "0.2", "max_tokens": 50}
    assert type(generation.body["modelParameters"]["max_tokens"]) is int


# --- sorting, grouping, response ---------------------------------------------------------------------


def test_js_sample_update_sent_before_create_is_processed_after_all_creates() -> None:
    batch = sample_batch("js-langfuse-3.39.2-ingestion-batch.json")
    types_in = [raw["type"] for raw in batch]
    assert types_in.index("generation-update") < types_in.index("generation-create", 3)
    events = validate_batch(batch, access_level="all").events
    kinds = [event.is_update for event in events]
    assert kinds == sorted(kinds)  # every non-update first
    assert [event.type for event in events][-2:] == ["generation-update", "span-update"]
    creates = [event for event in events if not event.is_update]
    assert [event.timestamp_us for event in creates] == sorted(event.timestamp_us for event in creates)


def test_sort_is_stable_and_compares_instants_across_zones() -> None:
    batch = [
        envelope("trace-create", {"id": "a"}, event_id="late", timestamp="2024-05-01T10:00:00.5+01:00"),
        envelope("span-update", {"id": "s"}, event_id="update", timestamp="2024-05-01T00:00:00Z"),
        envelope("trace-create", {"id": "b"}, event_id="first", timestamp="2024-05-01T08:59:59.999999Z"),
        envelope("trace-create", {"id": "c"}, event_id="tie-1", timestamp="2024-05-01T09:00:00.500Z"),
        envelope("trace-create", {"id": "d"}, event_id="tie-2", timestamp="2024-05-01T09:00:00.5Z"),
    ]
    result = validate_batch(batch, access_level="all")
    assert [event.id for event in result.events] == ["first", "late", "tie-1", "tie-2", "update"]
    assert [s["id"] for s in result.response_body()["successes"]] == ["first", "late", "tie-1", "tie-2", "update"]


def test_group_by_entity_keys_by_entity_type_and_body_id_in_sorted_order() -> None:
    batch = sample_batch("js-langfuse-3.39.2-ingestion-batch.json")
    events = validate_batch(batch, access_level="all").events
    groups = group_by_entity(events)
    assert next(iter(groups)) == ("score", "5e5de7a0-674e-478f-852a-dbe3a3b57038")
    trace = groups[("trace", "js-trace-0001")]
    assert [event.id for event in trace] == [
        "07871200-79df-4514-b586-8169ccdf9a67",
        "064600e1-a864-49bb-96fc-8e8a3324b261",
    ]
    generation = groups[("observation", "4098da20-b19c-46c5-823a-b098a1508c55")]
    assert [event.type for event in generation] == ["generation-create", "generation-update"]
    assert sum(len(group) for group in groups.values()) == len(batch)


def test_mixed_batch_gives_207_shape_with_successes_and_errors() -> None:
    """Langfuse servertest: `[{id:"invalid-event"}, valid trace, score with name ""]` → 1 success, 2 errors."""
    batch = [
        {"id": "invalid-event"},
        envelope("trace-create", {"id": "t1", "name": "ok"}, event_id="good"),
        envelope("score-create", {"id": "s1", "name": "", "traceId": "t1", "value": 1}, event_id="bad-score"),
    ]
    body = validate_batch(batch, access_level="all").response_body()
    assert body["successes"] == [{"id": "good", "status": 201}]
    assert [(e["id"], e["status"], e["message"]) for e in body["errors"]] == [
        ("invalid-event", 400, "Invalid request data"),
        ("bad-score", 400, "Invalid request data"),
    ]
    assert "timestamp: is required" in body["errors"][0]["error"]
    assert "body.name: must not be empty" in body["errors"][1]["error"]
    json.dumps(body)


def test_error_id_is_unknown_when_element_has_no_string_id() -> None:
    result = validate_batch([42, "x", None, {"id": 5, "type": "trace-create"}, {"type": "x"}], access_level="all")
    assert [error.id for error in result.errors] == ["unknown"] * 5
    assert result.errors[0].error == "event: expected an object"
    assert "id: expected a string" in result.errors[3].error


def test_scores_scope_key_may_only_send_score_create() -> None:
    batch = [
        envelope("trace-create", {"id": "t"}, event_id="trace"),
        envelope("score-create", {"name": "n", "traceId": "t", "value": 1}, event_id="score"),
        envelope("span-create", {"id": "s"}, event_id="span"),
        envelope("sdk-log", {"log": "hello"}, event_id="log"),
        envelope("trace-create", {"name": 5}, event_id="broken"),
    ]
    result = validate_batch(batch, access_level=AccessLevel.SCORES)
    assert [event.id for event in result.events] == ["score"]
    # validation errors first (request order), then scope errors (request order)
    assert [error.to_json() for error in result.errors] == [
        {"id": "broken", "status": 400, "message": "Invalid request data", "error": result.errors[0].error},
        {"id": "trace", "status": 401, "message": "Authentication error", "error": "Access Scope Denied"},
        {"id": "span", "status": 401, "message": "Authentication error", "error": "Access Scope Denied"},
    ]
    assert validate_batch(batch, access_level="all").response_body()["successes"] == [
        {"id": "trace", "status": 201},
        {"id": "score", "status": 201},
        {"id": "span", "status": 201},
    ]


def test_unknown_access_level_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="access level"):
        validate_batch([], access_level="read")  # type: ignore[arg-type]


def test_sdk_log_is_dropped_when_valid_and_reported_when_invalid() -> None:
    assert validate_event(envelope("sdk-log", {"log": {"msg": "x"}})) is None
    result = validate_batch([envelope("sdk-log", {"log": "x"}), envelope("sdk-log", {"id": "l"})], access_level="all")
    assert result.events == ()
    assert len(result.errors) == 1 and result.errors[0].error == "body.log: is required"
    assert invalid("sdk-log", {"log": None}).error == "body.log: must not be null"


def test_valid_event_to_json_is_the_stored_envelope() -> None:
    raw = envelope("trace-create", {"id": "t", "extra": 1}, event_id="e")
    raw["metadata"] = {"sdk": "x"}
    event = validate_event(raw)
    assert isinstance(event, ValidEvent)
    assert event.to_json() == {"id": "e", "timestamp": TS, "type": "trace-create", "body": {"id": "t"}}
    assert (event.entity_type, event.entity_id) == ("trace", "t")
    with pytest.raises(AttributeError):
        event.id = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("event_type", "entity_type"),
    [
        ("trace-create", "trace"),
        ("score-create", "score"),
        ("span-create", "observation"),
        ("span-update", "observation"),
        ("generation-create", "observation"),
        ("generation-update", "observation"),
        ("event-create", "observation"),
        ("observation-create", "observation"),
        ("observation-update", "observation"),
    ],
)
def test_entity_type_of_every_event_type(event_type: str, entity_type: str) -> None:
    body: dict[str, Any] = {"id": "x"}
    if event_type == "score-create":
        body.update(name="n", traceId="t", value=1)
    if event_type.startswith("observation-"):
        body["type"] = "SPAN"
    event = valid(event_type, body)
    assert (event.entity_type, event.entity_id) == (entity_type, "x")
    assert event.is_update == event_type.endswith("-update")


def test_parse_ingestion_body() -> None:
    assert parse_ingestion_body({"batch": [1, {}], "metadata": {"sdk_name": "python"}}) == [1, {}]
    assert parse_ingestion_body({"batch": [], "metadata": None}) == []
    for bad, issue in [
        ({}, "batch: is required"),
        ({"batch": None}, "batch: expected an array"),
        ({"batch": {}}, "batch: expected an array"),
        ([], "expected an object with a `batch` array"),
        ("batch", "expected an object with a `batch` array"),
    ]:
        with pytest.raises(InvalidBatchError) as caught:
            parse_ingestion_body(bad)
        assert isinstance(caught.value, InvalidRequestError) and caught.value.status == 400
        assert caught.value.response_body() == {"message": "Invalid request data", "errors": [issue]}


# --- envelope and datetimes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "timestamp",
    [
        "2024-05-01T10:00:00Z",
        "2024-05-01T10:00:00.1Z",
        "2024-05-01T10:00:00.123Z",
        "2024-05-01T10:00:00.123456Z",
        "2024-05-01T10:00:00.123456789Z",
        "2024-05-01T10:00:00+01:00",
        "2024-05-01T10:00:00.5-05:30",
        "2024-05-01T10:00:00+0100",
        "2024-02-29T23:59:59Z",
        "2000-02-29T00:00:00Z",
        "2024-12-31T23:59:59.999Z",
    ],
)
def test_accepted_timestamp_forms(timestamp: str) -> None:
    event = valid("trace-create", {"id": "t", "timestamp": timestamp}, timestamp=timestamp)
    assert event.timestamp == timestamp and event.body["timestamp"] == timestamp
    valid("span-create", {"id": "s", "startTime": timestamp, "endTime": timestamp})
    valid("generation-create", {"id": "g", "completionStartTime": timestamp})


@pytest.mark.parametrize(
    "timestamp",
    [
        "2024-05-01T10:00:00",  # no zone
        "2024-05-01T10:00:00+01",  # bare ±HH
        "2024-05-01T10:00:00z",  # lower-case z
        "2024-05-01T10:00Z",  # no seconds
        "2024-05-01 10:00:00Z",  # space
        "2024-05-01T10:00:00.Z",  # empty fraction
        "2023-02-29T10:00:00Z",  # not a leap year
        "1900-02-29T10:00:00Z",  # century, not a leap year
        "2024-04-31T10:00:00Z",  # April has 30 days
        "2024-13-01T10:00:00Z",
        "2024-00-10T10:00:00Z",
        "2024-05-00T10:00:00Z",
        "2024-05-01T24:00:00Z",
        "2024-05-01T10:60:00Z",
        "2024-05-01T10:00:60Z",  # no leap second
        "2024-05-01T10:00:00Z\n",
        "2024-05-01",
        "",
        "٢٠٢٤-05-01T10:00:00Z",  # non-ASCII digits
    ],
)
def test_rejected_timestamp_forms(timestamp: str) -> None:
    assert not is_iso_datetime(timestamp)
    error = invalid("trace-create", {"id": "t"}, timestamp=timestamp)
    assert error.error.startswith("timestamp: invalid ISO-8601 datetime")
    for field in ("startTime", "endTime"):
        error = invalid("span-create", {"id": "s", field: timestamp})
        assert error.error.startswith(f"body.{field}: invalid ISO-8601 datetime")
    assert invalid("trace-create", {"id": "t", "timestamp": timestamp}).error.startswith("body.timestamp: invalid")
    assert invalid("generation-update", {"id": "g", "completionStartTime": timestamp}).error.startswith(
        "body.completionStartTime: invalid"
    )


def test_epoch_us_is_the_instant_for_every_zone_form() -> None:
    base = epoch_us("2024-05-01T10:00:00Z")
    assert base == 1714557600 * 1_000_000
    assert epoch_us("2024-05-01T11:00:00+01:00") == base == epoch_us("2024-05-01T04:30:00-0530")
    assert epoch_us("2024-05-01T10:00:00.123456789Z") == base + 123456
    assert epoch_us("2024-05-01T10:00:00.5Z") == base + 500000
    # accepted by zod but outside Python's datetime range
    assert epoch_us("0000-03-01T00:00:00Z") < epoch_us("0001-01-01T00:00:00Z")
    assert epoch_us("2024-05-01T10:00:00+99:00") == base - 99 * 3600 * 1_000_000


def test_envelope_errors_are_listed_together() -> None:
    result = validate_event({"id": "e", "type": "nope", "timestamp": "yesterday"})
    assert isinstance(result, EventError) and result.id == "e"
    assert result.error.startswith("timestamp: invalid ISO-8601 datetime")
    assert result.error.endswith("type: unknown event type 'nope'")
    assert invalid("trace-create", None).error == "body: expected an object"
    assert invalid("trace-create", []).error == "body: expected an object"
    missing_body = validate_event({"id": "e", "type": "trace-create", "timestamp": TS})
    assert isinstance(missing_body, EventError) and missing_body.error == "body: is required"
    missing_type = validate_event({"id": "e", "timestamp": TS, "body": {}})
    assert isinstance(missing_type, EventError) and missing_type.error == "type: is required"


def test_envelope_id_may_be_any_string_including_empty() -> None:
    assert valid("trace-create", {"id": "t"}, event_id="").id == ""


def test_unknown_keys_are_ignored_everywhere() -> None:
    event = valid("trace-create", {"id": "t", "traceIdType": "LANGFUSE", "start_time": TS, "extra": {"a": 1}})
    assert event.body == {"id": "t"}
    raw = envelope("span-create", {"id": "s", "unknown": 1})
    raw["unexpected"] = True
    span = validate_event(raw)
    assert isinstance(span, ValidEvent) and span.body == {"id": "s"}
    assert "unexpected" not in span.to_json()
    generation = valid("generation-create", {"id": "g", "usage": {"input": 1, "foo": 2}})
    assert generation.body["usage"] == {"input": 1}


# --- per event type ------------------------------------------------------------------------------------


def test_trace_create_full_body() -> None:
    body = {
        "id": "t",
        "timestamp": TS,
        "name": "n" * 1000,
        "externalId": "x",
        "input": {"q": [1, None]},
        "output": "out",
        "sessionId": "s",
        "userId": "u",
        "release": "r",
        "version": "v",
        "metadata": ["any", "json"],
        "tags": ["a", "b"],
        "public": True,
        "environment": "prod",
    }
    assert valid("trace-create", copy.deepcopy(body)).body == body


@pytest.mark.parametrize(
    ("body", "issue"),
    [
        ({"id": "t", "name": "n" * 1001}, "body.name: must be at most 1000 characters"),
        ({"id": "t", "tags": ["a", 1]}, "body.tags[1]: expected a string"),
        ({"id": "t", "tags": "a"}, "body.tags: expected an array"),
        ({"id": "t", "public": "true"}, "body.public: expected a boolean"),
        ({"id": "t", "userId": 42}, "body.userId: expected a string"),
        ({"id": 42}, "body.id: expected a string"),
    ],
)
def test_trace_create_invalid(body: dict[str, Any], issue: str) -> None:
    assert invalid("trace-create", body).error == issue


def test_issue_list_is_capped() -> None:
    error = invalid("trace-create", {"id": "t", "tags": list(range(25))}).error.split("; ")
    assert error[:2] == ["body.tags[0]: expected a string", "body.tags[1]: expected a string"]
    assert len(error) == 11 and error[-1] == "and 15 more issues"


def test_json_fields_accept_any_value_and_null() -> None:
    for value in ("s", 0, 1.5, False, [], {}, [None], {"a": None}, None):
        event = valid("trace-create", {"id": "t", "input": value, "output": value, "metadata": value})
        assert event.body["input"] == value and event.body["metadata"] == value


def test_several_issues_are_reported_at_once() -> None:
    error = invalid("trace-create", {"id": "t", "name": 1, "tags": [2], "timestamp": "x"}).error
    assert error.split("; ") == [
        "body.timestamp: invalid ISO-8601 datetime (expected YYYY-MM-DDTHH:MM:SS[.fff] with Z or ±HH:MM)",
        "body.name: expected a string",
        "body.tags[0]: expected a string",
    ]


@pytest.mark.parametrize("event_type", ["span-create", "span-update", "event-create", "generation-create"])
def test_observation_bodies(event_type: str) -> None:
    body = {
        "id": "o",
        "traceId": "t",
        "name": "n",
        "startTime": TS,
        "metadata": {"k": "v"},
        "input": "i",
        "output": None,
        "level": "WARNING",
        "statusMessage": "m",
        "parentObservationId": None,
        "version": "v",
    }
    expected = {**body, "usage": None} if event_type.startswith("generation") else body
    assert valid(event_type, dict(body)).body == expected
    assert invalid(event_type, {**body, "level": "INFO"}).error == (
        "body.level: expected 'DEBUG', 'DEFAULT', 'WARNING' or 'ERROR'"
    )
    assert invalid(event_type, {**body, "statusMessage": 1}).error == "body.statusMessage: expected a string"


def test_end_time_is_stripped_from_events_but_kept_on_spans() -> None:
    assert "endTime" not in valid("event-create", {"id": "e", "endTime": TS}).body
    assert valid("span-update", {"id": "s", "endTime": TS}).body["endTime"] == TS


def test_generation_fields() -> None:
    body = {
        "id": "g",
        "completionStartTime": TS,
        "model": "gpt-4o",
        "modelParameters": {"t": 0.2, "n": 1, "s": "x", "b": True, "stop": ["a"], "fmt": {"type": "json"}, "z": None},
        "promptName": "p",
        "promptVersion": 3,
        "usage": {"input": 1, "output": 2, "total": 3, "unit": "CHARACTERS", "inputCost": 0.5},
    }
    event = valid("generation-create", copy.deepcopy(body))
    assert event.body == body


@pytest.mark.parametrize(
    ("params", "issue"),
    [
        ({"t": {"a": 1}}, "body.modelParameters.t: expected a string, number, boolean, string array or string map"),
        ({"t": [1]}, "body.modelParameters.t: expected a string, number, boolean, string array or string map"),
        ("x", "body.modelParameters: expected an object"),
    ],
)
def test_generation_model_parameters_invalid(params: object, issue: str) -> None:
    assert invalid("generation-create", {"id": "g", "modelParameters": params}).error == issue


@pytest.mark.parametrize(
    ("prompt", "ok"),
    [
        ({}, True),
        ({"promptName": "p", "promptVersion": 1}, True),
        ({"promptName": None, "promptVersion": None}, True),
        ({"promptName": "", "promptVersion": 0}, True),  # both falsy
        ({"promptName": "p"}, False),
        ({"promptVersion": 2}, False),
        ({"promptName": "p", "promptVersion": 0}, False),  # 0 counts as absent
        ({"promptName": "", "promptVersion": 1}, False),
    ],
)
def test_prompt_name_and_version_must_be_set_together(prompt: dict[str, Any], ok: bool) -> None:
    event = validate_event(envelope("generation-create", {"id": "g", **prompt}))
    if ok:
        assert isinstance(event, ValidEvent)
    else:
        assert isinstance(event, EventError)
        assert event.error == "body.promptName: promptName and promptVersion must be set together"


def test_prompt_version_must_be_an_integer() -> None:
    error = invalid("generation-create", {"id": "g", "promptName": "p", "promptVersion": 1.5})
    assert error.error == "body.promptVersion: expected an integer"
    assert valid("generation-create", {"id": "g", "promptName": "p", "promptVersion": 2.0}).body["promptVersion"] == 2


def test_legacy_observation_events() -> None:
    body = {"id": "o", "type": "GENERATION", "traceId": "t", "model": "m", "modelParameters": {"a": 1, "b": "x"}}
    event = valid("observation-create", dict(body))
    assert event.body == {**body, "usage": None}
    assert valid("observation-update", {"id": "o", "type": "EVENT"}).is_update
    assert invalid("observation-create", {"id": "o"}).error == "body.type: is required"
    assert invalid("observation-create", {"id": "o", "type": "TOOL"}).error == (
        "body.type: expected 'GENERATION', 'SPAN' or 'EVENT'"
    )
    assert invalid("observation-create", {"id": "o", "type": "SPAN", "modelParameters": {"s": ["a"]}}).error == (
        "body.modelParameters.s: expected a string, number or boolean"
    )
    # promptName/promptVersion are not part of the legacy body: stripped, no refinement
    assert "promptName" not in valid("observation-create", {"id": "o", "type": "SPAN", "promptName": "p"}).body


# --- ids -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "event_type", ["trace-create", "span-create", "generation-create", "event-create", "observation-create"]
)
def test_event_without_body_id_is_rejected_not_silently_dropped_upstream_bug(event_type: str) -> None:
    """Langfuse v3.0.0 skips such events yet reports 201; we answer 400 (the intended id is unknowable)."""
    body: dict[str, Any] = {"name": "no id"}
    if event_type == "observation-create":
        body["type"] = "SPAN"
    assert invalid(event_type, body).error == "body.id: is required"
    assert invalid(event_type, {**body, "id": None}).error == "body.id: is required"


def test_score_without_id_gets_a_generated_uuid_instead_of_being_dropped_upstream_bug() -> None:
    event = validate_event(
        envelope("score-create", {"name": "n", "traceId": "t", "value": 1}), new_id=lambda: "generated-id"
    )
    assert isinstance(event, ValidEvent) and event.entity_id == "generated-id"
    default = valid("score-create", {"name": "n", "traceId": "t", "value": 1, "id": None})
    assert len(default.entity_id) == 36 and default.entity_id.count("-") == 4


@pytest.mark.parametrize(
    ("value", "issue"),
    [
        ("", "must not be empty"),
        ("x" * 801, "must be at most 800 characters"),
        ("a\rb", "must not contain a carriage return"),
    ],
)
@pytest.mark.parametrize("field", ["id", "traceId"])
def test_ids_follow_head_id_schema(field: str, value: str, issue: str) -> None:
    for event_type in ("span-create", "score-create", "trace-create"):
        if event_type == "trace-create" and field == "traceId":
            continue
        body: dict[str, Any] = {"id": "ok", "traceId": "t", "name": "n", "value": 1, field: value}
        assert invalid(event_type, body).error == f"body.{field}: {issue}"


def test_ids_up_to_800_characters_with_any_other_character_are_accepted() -> None:
    assert valid("span-create", {"id": "x" * 800, "traceId": "a/b\n..ü"}).entity_id == "x" * 800


# --- scores ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data_type", "value", "ok"),
    [
        ("NUMERIC", 0.5, True),
        ("NUMERIC", 3, True),
        ("NUMERIC", "3", False),
        ("NUMERIC", True, False),
        ("NUMERIC", float("nan"), False),
        ("CATEGORICAL", "good", True),
        ("CATEGORICAL", 1, False),
        ("BOOLEAN", 1, True),
        ("BOOLEAN", 0.0, True),
        ("BOOLEAN", 1.0, True),
        ("BOOLEAN", 2, False),
        ("BOOLEAN", "true", False),
        ("BOOLEAN", True, False),
        (None, 1.5, True),
        (None, "text", True),
        (None, None, False),
        (None, [1], False),
    ],
)
def test_score_value_by_data_type(data_type: str | None, value: object, ok: bool) -> None:
    body: dict[str, Any] = {"id": "s", "name": "n", "traceId": "t", "value": value}
    if data_type is not None:
        body["dataType"] = data_type
    result = validate_event(envelope("score-create", body))
    if ok:
        assert isinstance(result, ValidEvent)
        assert result.body.get("dataType") == data_type
    else:
        assert isinstance(result, EventError)
        assert result.error.startswith("body.value: expected")


def test_score_body_fields_and_defaults() -> None:
    body = {
        "id": "s",
        "name": "n",
        "traceId": "t",
        "observationId": "o",
        "value": 1,
        "comment": "c",
        "configId": "cfg",
        "metadata": {"a": [1]},
        "environment": "Staging",
        "queueId": "dropped",
        "dataType": None,
    }
    event = valid("score-create", body)
    assert event.body == {
        "id": "s",
        "name": "n",
        "traceId": "t",
        "observationId": "o",
        "value": 1,
        "comment": "c",
        "configId": "cfg",
        "metadata": {"a": [1]},
        "environment": "staging",
        "source": "API",
    }
    assert valid("score-create", {**body, "source": "EVAL"}).body["source"] == "EVAL"
    assert valid("score-create", {**body, "source": None}).body["source"] == "API"
    assert invalid("score-create", {**body, "source": "USER"}).error == (
        "body.source: expected 'API', 'EVAL' or 'ANNOTATION'"
    )
    assert invalid("score-create", {**body, "dataType": "TEXT"}).error == (
        "body.dataType: expected 'NUMERIC', 'CATEGORICAL' or 'BOOLEAN'"
    )


def test_score_targets_a_trace_or_a_session() -> None:
    session_score = valid("score-create", {"name": "n", "sessionId": "sess", "value": 3.0})
    assert "traceId" not in session_score.body
    assert invalid("score-create", {"name": "n", "value": 1}).error == (
        "body.traceId: is required unless sessionId is given"
    )
    assert invalid("score-create", {"name": "n", "value": 1, "sessionId": ""}).error == (
        "body.traceId: is required unless sessionId is given"
    )
    assert invalid("score-create", {"name": "n", "value": 1, "sessionId": "s", "observationId": "o"}).error == (
        "body.observationId: requires traceId"
    )


def test_score_name_is_required_and_non_empty() -> None:
    assert invalid("score-create", {"traceId": "t", "value": 1}).error == "body.name: is required"
    assert invalid("score-create", {"traceId": "t", "value": 1, "name": ""}).error == "body.name: must not be empty"
    assert invalid("score-create", {"traceId": "t", "name": "n"}).error == "body.value: is required"


# --- environment ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("production", "production"),
        ("Prod-EU_1", "prod-eu_1"),
        ("langfuse-internal", "internal"),
        ("langfuse_langfuseX", "x"),
        ("LANGFUSE", "default"),
        ("e" * 50, "e" * 40),
        ("has space", "default"),
        ("ümlaut", "default"),
        ("", "default"),
    ],
)
def test_environment_is_normalised(given: str, stored: str) -> None:
    assert normalize_environment(given) == stored
    assert valid("trace-create", {"id": "t", "environment": given}).body["environment"] == stored
    assert valid("span-update", {"id": "s", "environment": given}).body["environment"] == stored


def test_environment_absent_or_null_is_left_for_the_merge_to_default() -> None:
    assert "environment" not in valid("trace-create", {"id": "t"}).body
    assert valid("trace-create", {"id": "t", "environment": None}).body["environment"] is None
    assert invalid("trace-create", {"id": "t", "environment": 5}).error == "body.environment: expected a string"


# --- robustness and speed ----------------------------------------------------------------------------------


def nested(depth: int) -> object:
    value: object = "leaf"
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


def test_deeply_nested_json_fields_do_not_recurse() -> None:
    deep = nested(5000)
    event = valid("trace-create", {"id": "t", "input": deep, "metadata": deep})
    assert event.body["input"] is deep
    score = valid("score-create", {"name": "n", "traceId": "t", "value": 1, "metadata": deep})
    assert score.body["metadata"] is deep
    # deep values where a shape is expected are judged at the first level, without recursion
    generation = valid("generation-create", {"id": "g", "usageDetails": {"a": deep}, "costDetails": {"a": deep}})
    assert "usageDetails" not in generation.body and "costDetails" not in generation.body
    assert invalid("generation-create", {"id": "g", "modelParameters": {"a": deep}}).error.startswith(
        "body.modelParameters.a:"
    )
    assert isinstance(deep, list)
    assert invalid("trace-create", {"id": "t", "tags": deep}).error == "body.tags[0]: expected a string"


def test_input_objects_are_not_mutated() -> None:
    batch = sample_batch(BATCH_SAMPLES[2])
    before = copy.deepcopy(batch)
    validate_batch(batch, access_level="all")
    assert batch == before


def test_ten_thousand_event_batch(capsys: pytest.CaptureFixture[str]) -> None:
    events = [raw for name in BATCH_SAMPLES for raw in sample_batch(name)]
    batch = [events[i % len(events)] for i in range(10_000)]
    started = time.perf_counter()
    result: BatchResult = validate_batch(batch, access_level="all")
    elapsed = time.perf_counter() - started
    assert len(result.events) == 10_000 and result.errors == ()
    with capsys.disabled():
        print(f"\n10,000-event batch validated in {elapsed * 1000:.0f} ms ({elapsed * 100:.1f} µs/event)")
    assert elapsed < 2.0  # ~0.05 s measured; generous for slow CI machines
