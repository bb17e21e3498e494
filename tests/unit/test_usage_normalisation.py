"""Usage, usageDetails and costDetails of generation and legacy observation bodies (ingestion spec §2.4)."""

from __future__ import annotations

from typing import Any

import pytest

from langfuse_aio.domain.events import EventError, ValidEvent, validate_event

TS = "2024-05-01T10:00:00Z"


def body_of(event_type: str = "generation-create", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"id": "g", **fields}
    if event_type.startswith("observation-"):
        body["type"] = "GENERATION"
    result = validate_event({"id": "e", "type": event_type, "timestamp": TS, "body": body})
    assert isinstance(result, ValidEvent), result
    return result.body


def error_of(**fields: Any) -> str:
    result = validate_event({"id": "e", "type": "generation-create", "timestamp": TS, "body": {"id": "g", **fields}})
    assert isinstance(result, EventError), result
    return result.error


@pytest.mark.parametrize("event_type", ["generation-create", "generation-update", "observation-create"])
@pytest.mark.parametrize(
    ("usage", "stored"),
    [
        # the OpenAI-style family maps to input/output/total/TOKENS and discards costs
        (
            {"promptTokens": 5, "completionTokens": 7, "totalTokens": 12, "inputCost": 1.0, "unit": "CHARACTERS"},
            {"input": 5, "output": 7, "total": 12, "unit": "TOKENS"},
        ),
        ({"promptTokens": 5}, {"input": 5, "unit": "TOKENS"}),
        ({"totalTokens": None, "input": 3}, {"total": None, "unit": "TOKENS"}),  # present even as null
        # otherwise passed through, unknown keys stripped, explicit nulls kept
        ({"input": 5, "output": 7, "unit": "TOKENS"}, {"input": 5, "output": 7, "unit": "TOKENS"}),
        ({"total": 100}, {"total": 100}),
        ({"input": None, "outputCost": 0.25}, {"input": None, "outputCost": 0.25}),
        ({"input": 5.0, "output": 1e2}, {"input": 5, "output": 100}),  # integral floats are integers
        ({"input": -1}, {"input": -1}),  # negatives are dropped later, in the worker
    ],
)
def test_usage_forms(event_type: str, usage: dict[str, Any], stored: dict[str, Any]) -> None:
    assert body_of(event_type, usage=usage)["usage"] == stored


def test_usage_integer_types_are_kept() -> None:
    usage = body_of(usage={"input": 5.0})["usage"]
    assert type(usage["input"]) is int


def test_empty_usage_is_removed_and_null_or_absent_usage_is_null() -> None:
    assert "usage" not in body_of(usage={})
    assert "usage" not in body_of(usage={"unknownKey": 1})  # empty once unknown keys are stripped
    assert body_of(usage=None)["usage"] is None
    assert body_of()["usage"] is None
    assert "usage" not in body_of("span-create")  # spans have no usage


@pytest.mark.parametrize(
    ("usage", "issue"),
    [
        ({"input": 1.5}, "body.usage.input: expected an integer"),
        ({"promptTokens": "5"}, "body.usage.promptTokens: expected an integer"),
        ({"totalTokens": True}, "body.usage.totalTokens: expected an integer"),
        (
            {"unit": "WORDS"},
            "body.usage.unit: expected 'CHARACTERS', 'TOKENS', 'SECONDS', 'MILLISECONDS', 'IMAGES' or 'REQUESTS'",
        ),
        ({"inputCost": "0.1"}, "body.usage.inputCost: expected a number"),
        ([1, 2], "body.usage: expected an object"),
        ("5 tokens", "body.usage: expected an object"),
    ],
)
def test_invalid_usage(usage: object, issue: str) -> None:
    assert error_of(usage=usage) == issue


@pytest.mark.parametrize(
    ("details", "stored"),
    [
        ({"input": 12, "output": 3, "total": 15}, {"input": 12, "output": 3, "total": 15}),
        ({"input": 1, "cache_read": 4}, {"input": 1, "cache_read": 4}),
        # invalid values are dropped silently (HEAD "invalid float usageDetails" test)
        ({"input": 1.5, "output": 2, "bad": -1, "flag": True, "none": None, "obj": {}}, {"output": 2}),
        (
            {"input": "12", "output": " 7 ", "total": "3.0", "x": "1.5", "y": "abc", "z": ""},
            {"input": 12, "output": 7, "total": 3},
        ),
        ({"input": 2.0}, {"input": 2}),
        # OpenAI Chat Completions usage
        (
            {
                "prompt_tokens": 100,
                "completion_tokens": 50,
                "total_tokens": 150,
                "prompt_tokens_details": {"cached_tokens": 30, "audio_tokens": None},
                "completion_tokens_details": {"reasoning_tokens": 60},
            },
            {"input": 70, "output": 0, "total": 150, "input_cached_tokens": 30, "output_reasoning_tokens": 60},
        ),
        ({"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}, {"input": 1, "output": 2, "total": 3}),
        # OpenAI Responses API usage
        (
            {
                "input_tokens": 10,
                "output_tokens": 20,
                "total_tokens": 30,
                "input_tokens_details": {"cached_tokens": 4},
                "output_tokens_details": {"reasoning_tokens": 5},
            },
            {"input": 6, "output": 15, "total": 30, "input_cached_tokens": 4, "output_reasoning_tokens": 5},
        ),
        # not strictly OpenAI (extra key, missing total): treated as a plain record
        (
            {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3, "extra": 4},
            {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3, "extra": 4},
        ),
        (
            {"prompt_tokens": 1, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 1}},
            {"prompt_tokens": 1, "completion_tokens": 2},
        ),
    ],
)
def test_usage_details_forms(details: dict[str, Any], stored: dict[str, Any]) -> None:
    assert body_of(usageDetails=details)["usageDetails"] == stored
    assert body_of("observation-update", usageDetails=details)["usageDetails"] == stored


def test_usage_details_empty_result_is_removed_and_null_kept() -> None:
    assert "usageDetails" not in body_of(usageDetails={})
    assert "usageDetails" not in body_of(usageDetails={"input": -5, "output": "x"})
    assert body_of(usageDetails=None)["usageDetails"] is None
    assert "usageDetails" not in body_of()


def test_usage_details_must_be_an_object() -> None:
    assert error_of(usageDetails=[1]) == "body.usageDetails: expected an object"
    assert error_of(usageDetails=12) == "body.usageDetails: expected an object"


def test_cost_details() -> None:
    assert body_of(costDetails={"input": 0.0001, "output": 2, "total": 0})["costDetails"] == {
        "input": 0.0001,
        "output": 2,
        "total": 0,
    }
    kept = body_of(costDetails={"input": -1, "output": "0.5", "x": None, "y": True, "z": float("inf"), "ok": 1.5})
    assert kept["costDetails"] == {"ok": 1.5}
    assert "costDetails" not in body_of(costDetails={"input": -1})
    assert body_of(costDetails=None)["costDetails"] is None
    assert error_of(costDetails="1.0") == "body.costDetails: expected an object"
