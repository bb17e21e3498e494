"""Usage and cost fields of generation and legacy observation bodies (ingestion spec §2.4).

Each function normalises one field of an already type-checked body dict in place:
- `usage` (v3.0.0): the OpenAI-style `promptTokens` family becomes `{input, output, total, unit: TOKENS}`
  (costs discarded); `{}` removes the key; null or absent becomes null (zod's transform runs on the
  missing key too, so Langfuse stores `"usage": null`).
- `usageDetails` (v3.2.0+): an OpenAI Chat Completions or Responses usage object is mapped to
  `input/output/total` plus `input_<k>`/`output_<k>` details; otherwise it is a record whose
  non-negative integer values are kept (numeric strings parsed) and everything else silently dropped.
- `costDetails` (v3.2.0+): a record whose non-negative numbers are kept; everything else dropped.
An empty `usageDetails`/`costDetails` result removes the key; a non-object value is a 400.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from langfuse_aio.domain.validation import Invalid, is_js_number

_TOKEN_KEYS: Final = (("promptTokens", "input"), ("completionTokens", "output"), ("totalTokens", "total"))


def normalize_usage(body: dict[str, Any]) -> None:
    usage = body.get("usage")
    if usage is None:
        body["usage"] = None
        return
    if "promptTokens" in usage or "completionTokens" in usage or "totalTokens" in usage:
        mapped = {target: usage[source] for source, target in _TOKEN_KEYS if source in usage}
        mapped["unit"] = "TOKENS"
        body["usage"] = mapped
    elif not usage:
        del body["usage"]


def _nonneg_int(value: object) -> int | None:
    if type(value) is int:
        return value if value >= 0 else None
    if type(value) is float and value.is_integer() and value >= 0:
        return int(value)
    return None


_NUMERIC_STRING = re.compile(r"\s*([0-9]+)(?:\.0*)?\s*")


def _usage_count(value: object) -> int | None:
    """A record value: a non-negative integer, or a string of ASCII digits (optionally `.0…`)."""
    if type(value) is str:
        match = _NUMERIC_STRING.fullmatch(value)
        return int(match.group(1)) if match else None
    return _nonneg_int(value)


_OPENAI_SHAPES: Final = (
    ("prompt_tokens", "completion_tokens", "prompt_tokens_details", "completion_tokens_details"),
    ("input_tokens", "output_tokens", "input_tokens_details", "output_tokens_details"),
)


def _details(value: object) -> dict[str, int | None] | None:
    """An OpenAI `*_tokens_details` record (null values allowed), or None when it does not fit."""
    if not isinstance(value, dict):
        return None
    out: dict[str, int | None] = {}
    for key, item in value.items():
        count = None if item is None else _nonneg_int(item)
        if count is None and item is not None:
            return None
        out[key] = count
    return out


def _openai_usage(raw: Mapping[str, Any]) -> dict[str, int] | None:
    """Map a strict OpenAI Chat Completions / Responses usage object; None if `raw` is not one."""
    for input_key, output_key, input_details_key, output_details_key in _OPENAI_SHAPES:
        allowed = {input_key, output_key, "total_tokens", input_details_key, output_details_key}
        if input_key not in raw or not raw.keys() <= allowed:
            continue
        input_count, output_count, total_count = (
            _nonneg_int(raw.get(key)) for key in (input_key, output_key, "total_tokens")
        )
        if input_count is None or output_count is None or total_count is None:
            return None
        result = {"input": input_count, "output": output_count, "total": total_count}
        for details_key, side in ((input_details_key, "input"), (output_details_key, "output")):
            raw_details = raw.get(details_key)
            if raw_details is None:
                continue
            details = _details(raw_details)
            if details is None:
                return None
            for key, count in details.items():
                if count is not None:
                    result[f"{side}_{key}"] = count
                    result[side] = max(result[side] - count, 0)
        return result
    return None


def normalize_usage_details(body: dict[str, Any]) -> None:
    if "usageDetails" not in body or body["usageDetails"] is None:
        return
    raw = body["usageDetails"]
    if not isinstance(raw, dict):
        raise Invalid("body.usageDetails: expected an object")
    mapped = _openai_usage(raw)
    if mapped is None:
        mapped = {}
        for key, value in raw.items():
            count = _usage_count(value)
            if count is not None:
                mapped[key] = count
    if mapped:
        body["usageDetails"] = mapped
    else:
        del body["usageDetails"]


def normalize_cost_details(body: dict[str, Any]) -> None:
    if "costDetails" not in body or body["costDetails"] is None:
        return
    raw = body["costDetails"]
    if not isinstance(raw, dict):
        raise Invalid("body.costDetails: expected an object")
    kept = {key: value for key, value in raw.items() if is_js_number(value) and value >= 0}
    if kept:
        body["costDetails"] = kept
    else:
        del body["costDetails"]
