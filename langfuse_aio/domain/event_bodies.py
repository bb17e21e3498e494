"""Per-type body validators: the schema, then the rules zod expresses as refinements and transforms.

Choices beyond Langfuse v3.0.0 (all HEAD behaviour unless noted):
- every body accepts `environment`, normalised by `normalize_environment`. An absent one stays absent (and
  null stays null): environment is immutable after the first write, and the JS SDK sends updates without it, so
  defaulting here would let an update that is merged first pin "default". Whoever builds the row applies
  "default" when no event of the entity carried one;
- ids (`body.id`, `body.traceId`) follow HEAD `idSchema`: 1..800 characters, no carriage return;
- a trace, observation or legacy observation without `body.id` is a 400 "body.id: is required" instead of
  Langfuse's silent drop reported as 201 (a v3.0.0 bug: the caller believed the event was stored);
- a score without `id` gets a generated uuid4, as Langfuse's `POST /scores` does;
- scores accept `sessionId` and `metadata`; `traceId` may be omitted when `sessionId` is given, and an
  `observationId` needs a `traceId`; `dataType: null` counts as omitted, `source: null` as "API";
- `modelParameters` values may also be null (py2's MapValue is Optional); generations accept
  `usageDetails` / `costDetails` (see `usage`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, Final

from langfuse_aio.domain.event_schemas import (
    EVENT_BODY,
    GENERATION_BODY,
    LEGACY_BODY,
    SCORE_BODY,
    SDK_LOG_BODY,
    SPAN_BODY,
    TRACE_BODY,
    parse_body,
)
from langfuse_aio.domain.usage import normalize_cost_details, normalize_usage, normalize_usage_details
from langfuse_aio.domain.validation import Invalid, check_id, is_js_number, normalize_environment


def _require_id(out: dict[str, Any]) -> None:
    body_id = out.get("id")
    if body_id is None:
        raise Invalid("body.id: is required")
    check_id("body.id", body_id)


def _common(out: dict[str, Any]) -> dict[str, Any]:
    trace_id = out.get("traceId")
    if trace_id is not None:
        check_id("body.traceId", trace_id)
    environment = out.get("environment")
    if environment is not None:
        out["environment"] = normalize_environment(environment)
    return out


def _parameter_ok(value: object, *, nested: bool) -> bool:
    kind = type(value)
    if value is None or kind is str or kind is bool or kind is int:
        return True
    if kind is float:
        return is_js_number(value)
    if nested and isinstance(value, list):
        return all(type(item) is str for item in value)
    if nested and isinstance(value, dict):
        return all(type(item) is str for item in value.values())
    return False


def _check_model_parameters(out: dict[str, Any], *, nested: bool) -> None:
    """Values: string | number | boolean | null, and for generations also string[] | record<string, string>."""
    params = out.get("modelParameters")
    if params is None:
        return
    if not isinstance(params, dict):
        raise Invalid("body.modelParameters: expected an object")
    for key, value in params.items():
        if not _parameter_ok(value, nested=nested):
            expected = "string, number, boolean, string array or string map" if nested else "string, number or boolean"
            raise Invalid(f"body.modelParameters.{key}: expected a {expected}")


def _observation_usage(out: dict[str, Any], *, nested_parameters: bool) -> None:
    _check_model_parameters(out, nested=nested_parameters)
    normalize_usage(out)
    normalize_usage_details(out)
    normalize_cost_details(out)


def _trace_body(body: object) -> dict[str, Any]:
    out = parse_body(TRACE_BODY, body)
    _require_id(out)
    return _common(out)


def _event_body(body: object) -> dict[str, Any]:
    out = parse_body(EVENT_BODY, body)
    _require_id(out)
    return _common(out)


def _span_body(body: object) -> dict[str, Any]:
    out = parse_body(SPAN_BODY, body)
    _require_id(out)
    return _common(out)


def _generation_body(body: object) -> dict[str, Any]:
    out = parse_body(GENERATION_BODY, body)
    _require_id(out)
    if bool(out.get("promptName")) != bool(out.get("promptVersion")):
        raise Invalid("body.promptName: promptName and promptVersion must be set together")
    _observation_usage(out, nested_parameters=True)
    return _common(out)


def _legacy_observation_body(body: object) -> dict[str, Any]:
    out = parse_body(LEGACY_BODY, body)
    _require_id(out)
    _observation_usage(out, nested_parameters=False)
    return _common(out)


def new_uuid() -> str:
    return str(uuid.uuid4())


_SCORE_VALUE_RULES: Final = {
    "NUMERIC": (is_js_number, "expected a number for dataType NUMERIC"),
    "CATEGORICAL": (lambda value: type(value) is str, "expected a string for dataType CATEGORICAL"),
    "BOOLEAN": (lambda value: is_js_number(value) and value in (0, 1), "expected 0 or 1 for dataType BOOLEAN"),
    None: (lambda value: type(value) is str or is_js_number(value), "expected a number or a string"),
}


def score_body(body: object, *, new_id: Callable[[], str] = new_uuid) -> dict[str, Any]:
    out = parse_body(SCORE_BODY, body)
    if out.get("id") is None:
        out["id"] = new_id()
    else:
        check_id("body.id", out["id"])
    if out.get("traceId") is None:
        if not out.get("sessionId"):
            raise Invalid("body.traceId: is required unless sessionId is given")
        if out.get("observationId"):
            raise Invalid("body.observationId: requires traceId")
    data_type = out.get("dataType")
    accepts, problem = _SCORE_VALUE_RULES[data_type]
    if not accepts(out["value"]):
        raise Invalid(f"body.value: {problem}")
    if data_type is None:
        out.pop("dataType", None)
    if out.get("source") is None:
        out["source"] = "API"
    return _common(out)


def _sdk_log_body(body: object) -> dict[str, Any]:
    out = parse_body(SDK_LOG_BODY, body)
    if out["log"] is None:
        raise Invalid("body.log: must not be null")
    return out


BODY_VALIDATORS: Final[dict[str, Callable[[object], dict[str, Any]]]] = {
    "trace-create": _trace_body,
    "span-create": _span_body,
    "span-update": _span_body,
    "generation-create": _generation_body,
    "generation-update": _generation_body,
    "event-create": _event_body,
    "score-create": score_body,
    "sdk-log": _sdk_log_body,
    "observation-create": _legacy_observation_body,
    "observation-update": _legacy_observation_body,
    # Langfuse HEAD's further observation types (OTel spans map to them); generation-shaped bodies
    **dict.fromkeys(
        ("agent-create", "tool-create", "chain-create", "retriever-create", "evaluator-create", "embedding-create",
         "guardrail-create"),
        _generation_body,
    ),
}
