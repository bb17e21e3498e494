"""`POST /api/public/scores`: a single object (Langfuse) or an array (py v5 SDK)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from langfuse_aio.domain.errors import InvalidRequestError
from langfuse_aio.domain.scores_post import InvalidScoreBodyError, score_events_from_post

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "sdk-samples" / "py-v5.0.4-scores-batch.json"
NOW = "2024-05-01T10:00:00.000Z"


def ids() -> Any:
    counter = itertools.count(1)
    return lambda: f"new-{next(counter)}"


def test_py_v5_score_array_is_accepted_with_202() -> None:
    items = json.loads(SAMPLE.read_text())["body"]
    result = score_events_from_post(items, now_iso=NOW, new_id=ids())
    assert result.errors == ()
    assert (result.status, result.response_body()) == (202, {"message": "Accepted"})
    assert [event.entity_id for event in result.events] == [item["id"] for item in items]
    assert [event.timestamp for event in result.events] == [item["timestamp"] for item in items]
    assert all(event.type == "score-create" and event.body["source"] == "API" for event in result.events)
    assert all("timestamp" not in event.body for event in result.events)
    assert [event.id for event in result.events] == [f"new-{n}" for n in range(1, 6)]
    session_score = result.events[3]
    assert session_score.body["sessionId"] == "sess-7" and "traceId" not in session_score.body
    assert result.events[0].body["dataType"] == "BOOLEAN" and result.events[0].body["environment"] == "probe-env"


def test_array_with_rejected_items_answers_207_with_counts() -> None:
    items = [
        {"id": "a", "traceId": "t", "name": "ok", "value": 1},
        {"id": "b", "traceId": "t", "name": "bad", "value": "x", "dataType": "NUMERIC"},
        "not an object",
        {"id": "c", "sessionId": "s", "name": "ok", "value": "good", "dataType": "CATEGORICAL"},
    ]
    result = score_events_from_post(items, now_iso=NOW, new_id=ids())
    assert result.status == 207
    assert result.response_body() == {
        "accepted": 2,
        "rejected": 2,
        "errors": [
            {"message": "scores[1].value: expected a number for dataType NUMERIC"},
            {"message": "scores[2]: expected an object"},
        ],
    }
    assert [event.entity_id for event in result.events] == ["a", "c"]
    assert [error.index for error in result.errors] == [1, 2]


def test_empty_array_is_accepted() -> None:
    result = score_events_from_post([], now_iso=NOW, new_id=ids())
    assert (result.status, result.response_body(), result.events) == (202, {"message": "Accepted"}, ())


def test_single_object_answers_200_with_the_score_id() -> None:
    result = score_events_from_post({"id": "s1", "traceId": "t", "name": "n", "value": 0.5}, now_iso=NOW, new_id=ids())
    assert (result.status, result.response_body()) == (200, {"id": "s1"})
    (event,) = result.events
    assert event.to_json() == {
        "id": "new-1",
        "timestamp": NOW,
        "type": "score-create",
        "body": {"id": "s1", "traceId": "t", "name": "n", "value": 0.5, "source": "API"},
    }


def test_score_id_is_generated_when_absent() -> None:
    result = score_events_from_post({"traceId": "t", "name": "n", "value": 1}, now_iso=NOW, new_id=ids())
    assert result.response_body() == {"id": "new-1"}
    assert result.events[0].id == "new-2"


def test_source_cannot_be_set_through_post_scores() -> None:
    result = score_events_from_post(
        {"id": "s", "traceId": "t", "name": "n", "value": 1, "source": "ANNOTATION"}, now_iso=NOW, new_id=ids()
    )
    assert result.events[0].body["source"] == "API"
    # even an invalid source is simply ignored
    result = score_events_from_post([{"traceId": "t", "name": "n", "value": 1, "source": 5}], now_iso=NOW, new_id=ids())
    assert result.status == 202


def test_item_timestamp_is_the_envelope_timestamp_when_valid() -> None:
    items = [
        {"traceId": "t", "name": "n", "value": 1, "timestamp": "2024-04-01T00:00:00.123456+02:00"},
        {"traceId": "t", "name": "n", "value": 1, "timestamp": "yesterday"},
        {"traceId": "t", "name": "n", "value": 1, "timestamp": None},
    ]
    result = score_events_from_post(items, now_iso=NOW, new_id=ids())
    assert [event.timestamp for event in result.events] == ["2024-04-01T00:00:00.123456+02:00", NOW, NOW]


def test_invalid_single_object_is_a_400_in_langfuse_shape() -> None:
    with pytest.raises(InvalidScoreBodyError) as caught:
        score_events_from_post(
            {"traceId": "t", "name": "n", "value": 3, "dataType": "CATEGORICAL"}, now_iso=NOW, new_id=ids()
        )
    assert isinstance(caught.value, InvalidRequestError) and caught.value.status == 400
    assert caught.value.response_body() == {
        "message": "Invalid request data",
        "error": ["value: expected a string for dataType CATEGORICAL"],
    }
    with pytest.raises(InvalidScoreBodyError) as caught:
        score_events_from_post({"value": 1}, now_iso=NOW, new_id=ids())
    assert caught.value.issues == ("name: is required",)


@pytest.mark.parametrize("body", ["text", 5, None, True])
def test_body_must_be_an_object_or_an_array(body: object) -> None:
    with pytest.raises(InvalidScoreBodyError) as caught:
        score_events_from_post(body, now_iso=NOW, new_id=ids())
    assert caught.value.issues == ("expected a score object or an array of score objects",)


def test_now_iso_must_be_a_valid_timestamp() -> None:
    with pytest.raises(ValueError, match="now_iso"):
        score_events_from_post([], now_iso="2024-05-01 10:00:00", new_id=ids())
