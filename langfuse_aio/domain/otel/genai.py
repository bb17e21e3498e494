"""Model, parameters, usage and cost of a span (ingestion spec §6.5); pure.

The Langfuse attributes win; otherwise the OpenTelemetry GenAI semantic conventions (`gen_ai.*`),
OpenInference (`llm.*`, `openinference.span.kind`), OpenLLMetry and the Vercel AI SDK (scope `ai`).
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from typing import Any, Final

from langfuse_aio.domain.otel import attributes as a
from langfuse_aio.domain.validation import is_iso_datetime

VERCEL_SCOPE: Final = "ai"
_MODEL_KEYS: Final = (
    a.OBSERVATION_MODEL, "gen_ai.response.model", "ai.model.id", "gen_ai.request.model", "llm.response.model",
    "llm.model_name", "model",
)
_AGENT_OPERATIONS: Final = frozenset({"invoke_agent", "agent_step"})
_VERCEL_PARAMETERS: Final = (
    ("maxSteps", ("ai.settings.maxSteps",)), ("toolChoice", ("ai.prompt.toolChoice",)),
    ("maxTokens", ("gen_ai.request.max_tokens",)),
    ("finishReason", ("gen_ai.response.finish_reasons", "gen_ai.finishReason")),
    ("system", ("gen_ai.system", "ai.model.provider")), ("maxRetries", ("ai.settings.maxRetries",)),
    ("mode", ("ai.settings.mode",)), ("temperature", ("gen_ai.request.temperature",)),
    ("service_tier", ("ai.settings.service_tier",)),
)


def json_object(value: Any) -> dict[str, Any] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, dict) else None


def carries_no_model(attributes: dict[str, Any]) -> bool:
    """Agent spans (`gen_ai.operation.name` invoke_agent / agent_step) carry no model, usage or cost:
    their generations do, and counting both would double the cost."""
    return attributes.get("gen_ai.operation.name") in _AGENT_OPERATIONS


def model_name(attributes: dict[str, Any]) -> str | None:
    return a.first_text(attributes, _MODEL_KEYS)


def _sanitised(params: dict[str, Any]) -> dict[str, Any]:
    """Model parameter values are strings or numbers; anything else becomes JSON text."""
    return {key: value if isinstance(value, (str, int, float)) and not isinstance(value, bool) else a.as_text(value)
            for key, value in params.items()}


def model_parameters(attributes: dict[str, Any], scope_name: str) -> dict[str, Any] | None:
    explicit = json_object(attributes.get(a.OBSERVATION_MODEL_PARAMETERS))
    if explicit is not None:
        return _sanitised(explicit)
    if scope_name == VERCEL_SCOPE:
        out = {}
        for name, keys in _VERCEL_PARAMETERS:
            value = next((attributes[k] for k in keys if attributes.get(k) is not None), None)
            if value is not None:
                out[name] = a.as_text(value) if not isinstance(value, str) else value
        return out or None
    for key in ("llm.invocation_parameters", "model_config"):
        parsed = json_object(attributes.get(key)) if attributes.get(key) else None
        if parsed is not None:
            return _sanitised(parsed)
    out = {}
    for key, value in attributes.items():
        if key.startswith(_PARAMETER_PREFIXES):
            name = key.split(".", 2)[2]
            if name != "model":
                out[name] = value
    return _sanitised(out) if out else None


_PARAMETER_PREFIXES: Final = ("gen_ai.request.", "llm.invocation_parameters.")


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _whole(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


_INPUT_KEYS: Final = ("prompt_tokens", "input_tokens", "prompt")
_OUTPUT_KEYS: Final = ("completion_tokens", "output_tokens", "completion")
_TOTAL_KEYS: Final = ("total_tokens", "total")
_CACHE_READ_KEYS: Final = (
    "cache_read.input_tokens", "cache_read_input_tokens", "cache_read_tokens", "details.cache_read_input_tokens",
    "details.cache_read_tokens", "details.cache_read", "prompt_details.cache_read", "input_cached_tokens",
)
_CACHE_CREATION_KEYS: Final = (
    "cache_creation.input_tokens", "cache_creation_input_tokens", "cache_creation_tokens", "cache_write_tokens",
    "cache_write.input_tokens", "details.cache_creation_input_tokens", "details.cache_creation_tokens",
    "details.cache_write_tokens", "details.cache_creation", "details.cache_write", "prompt_details.cache_creation",
    "prompt_details.cache_write", "input_cache_creation",
)
_REASONING_KEYS: Final = ("reasoning.output_tokens", "reasoning_tokens", "completion_details.reasoning",
                          "output_reasoning_tokens")
_AUDIO_KEYS: Final = ("completion_details.audio", "output_audio_tokens")


def _generic_usage(attributes: dict[str, Any]) -> dict[str, int | float]:
    raw: dict[str, float] = {}
    for key, value in attributes.items():
        if "usage." not in key and "token_count." not in key:
            continue
        if key.startswith("gen_ai.usage.") and key != "gen_ai.usage.cost":
            name = key[len("gen_ai.usage."):]
        elif key.startswith("llm.token_count."):
            name = key[len("llm.token_count."):]
        else:
            continue
        number = _number(value)
        if number is not None:
            raw[name] = number
    if not raw:
        return {}

    def take(keys: tuple[str, ...]) -> float | None:
        found = None
        for key in keys:
            if key in raw:
                value = raw.pop(key)
                found = value if found is None else found
        return found

    total, cache_read, cache_creation = take(_TOTAL_KEYS), take(_CACHE_READ_KEYS), take(_CACHE_CREATION_KEYS)
    reasoning, audio = take(_REASONING_KEYS), take(_AUDIO_KEYS)
    prompt, completion = take(_INPUT_KEYS), take(_OUTPUT_KEYS)
    out: dict[str, int | float] = {}
    if prompt is not None:
        out["input"] = _whole(max(prompt - (cache_read or 0) - (cache_creation or 0), 0))
    if completion is not None:
        out["output"] = _whole(max(completion - (reasoning or 0) - (audio or 0), 0))
    if total is not None:
        out["total"] = _whole(total)
    for name, value in (("input_cached_tokens", cache_read), ("input_cache_creation", cache_creation),
                        ("output_reasoning_tokens", reasoning), ("output_audio_tokens", audio)):
        if value is not None:
            out[name] = _whole(value)
    for key, value in raw.items():
        out[key.removeprefix("details.")] = _whole(value)
    return out


def _vercel_usage(attributes: dict[str, Any]) -> dict[str, int | float]:
    def first(*keys: str) -> float | None:
        return next((n for k in keys if (n := _number(attributes.get(k))) is not None), None)

    prompt = first("gen_ai.usage.prompt_tokens", "gen_ai.usage.input_tokens")
    completion = first("gen_ai.usage.completion_tokens", "gen_ai.usage.output_tokens")
    total, cached, reasoning = first("ai.usage.tokens"), first("ai.usage.cachedInputTokens"), first(
        "ai.usage.reasoningTokens")
    out: dict[str, int | float] = {}
    if prompt is not None:
        out["input"] = _whole(max(prompt - (cached or 0), 0))
    if completion is not None:
        out["output"] = _whole(max(completion - (reasoning or 0), 0))
    for name, value in (("total", total), ("input_cached_tokens", cached), ("output_reasoning_tokens", reasoning)):
        if value is not None:
            out[name] = _whole(value)
    return out


def usage_details(attributes: dict[str, Any], scope_name: str) -> dict[str, Any] | None:
    explicit = json_object(attributes.get(a.OBSERVATION_USAGE_DETAILS))
    if explicit is not None:
        return explicit
    usage = _vercel_usage(attributes) if scope_name == VERCEL_SCOPE else _generic_usage(attributes)
    return usage or None


def cost_details(attributes: dict[str, Any]) -> dict[str, Any] | None:
    explicit = json_object(attributes.get(a.OBSERVATION_COST_DETAILS))
    if explicit is not None:
        return explicit
    for key in ("gen_ai.usage.cost", "llm.cost.total"):
        number = _number(attributes.get(key))
        if number:
            return {"total": number}
    return None


def completion_start_time(attributes: dict[str, Any], start_iso: str) -> str | None:
    """The Langfuse attribute (ISO text, possibly JSON-quoted), else start + Vercel's ms to first chunk."""
    value = attributes.get(a.OBSERVATION_COMPLETION_START_TIME)
    if isinstance(value, str):
        if is_iso_datetime(value):
            return value
        try:
            unquoted = json.loads(value)
        except ValueError:
            unquoted = None
        if is_iso_datetime(unquoted):
            return unquoted
    first_chunk = _number(attributes.get("ai.response.msToFirstChunk", attributes.get("ai.stream.msToFirstChunk")))
    if first_chunk is not None and first_chunk >= 0:
        moment = datetime.fromisoformat(start_iso) + timedelta(milliseconds=math.ceil(first_chunk))
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return None
