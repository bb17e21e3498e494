"""Metadata maps (ingestion spec §2.7, §3.4) and the JSON text helpers the merge needs; pure.

ClickHouse stores metadata as `Map(String, String)`. Langfuse converts an incoming value to that map,
merges maps of successive events with lodash `merge` over JSON-if-possible parsed values, and writes
the result back as strings. Text is produced the way JavaScript's `JSON.stringify` / `String()` would
write it, so values compare equal to what Langfuse itself stores (`1.0` is written `1`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import orjson

from langfuse_aio.domain.unprocessable import UnprocessableEntity

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_encode_str = json.encoder.encode_basestring  # JSON string literal, non-ASCII kept (as JSON.stringify)
_MAX_HOLE = 10_000  # lodash can grow an array to any index; we stop at a sane one

MISSING: Any = object()


def stringify(value: Any) -> str:
    """Langfuse's input/output `stringify`: strings verbatim, anything else compact JSON text.

    orjson writes it (~4x the stdlib encoder's speed; NaN and ±Infinity become null and exponents
    read `1e-7`, both as JSON.stringify writes them); what orjson refuses (an integer beyond 64 bits)
    goes through the stdlib encoder. `1.0` is written `1.0` (JS writes `1`); readers parse the text,
    so the value is the same.
    """
    if isinstance(value, str):
        return value
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # orjson.JSONEncodeError included
        pass
    try:
        return _ENCODER.encode(value)
    except ValueError:  # NaN or ±Infinity beside a long integer: JSON.stringify writes null
        return _ENCODER.encode(_finite(value))
    except TypeError as exc:
        raise UnprocessableEntity(f"value cannot be written as JSON: {exc}") from exc


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list):
        return [_finite(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _finite(item) for key, item in value.items()}
    return value


def js_number(value: float) -> str:
    """`String(n)` for a JS number: integral values without `.0`, exponents as JS writes them."""
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if "e" not in text:
        return text
    if 1e-6 <= abs(value) < 1e21:  # JS writes these in positional notation; Python does not
        return format(Decimal(text), "f")
    mantissa, exponent = text.split("e")
    power = int(exponent)
    return f"{mantissa}e{'+' if power > 0 else '-'}{abs(power)}"


def js_json(value: Any) -> str:
    """`JSON.stringify(value)` for parsed JSON (small values such as metadata)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _encode_str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return js_number(value) if math.isfinite(value) else "null"
    if isinstance(value, list):
        return "[" + ",".join(js_json(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{_encode_str(str(k))}:{js_json(v)}" for k, v in value.items()) + "}"
    raise UnprocessableEntity(f"value of type {type(value).__name__} is not JSON")


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def parse_json_if_possible(text: str) -> Any:
    """Langfuse's JSON-if-possible parser for stored strings: the parsed value, else the string."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except ValueError:
        return text


def js_truthy(value: Any) -> bool:
    """JavaScript truthiness of a parsed JSON value (empty arrays and objects are truthy)."""
    if value is None or value is False or value == "":
        return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value != 0 and not math.isnan(value)  # 0 and NaN are falsy
    return True


def normalise_metadata(value: Any) -> dict[str, str]:
    """§2.7 `convertJsonSchemaToRecord`, run only for truthy values.

    string / number → `{"metadata": String(v)}`; array → `{"metadata": JSON}`; object → same keys, string
    values kept, others JSON text; a boolean at the root is dropped (`{}`), as at v3.0.0.
    """
    if isinstance(value, bool) or not js_truthy(value):
        return {}
    if isinstance(value, str):
        return {"metadata": value}
    if isinstance(value, (int, float)):
        return {"metadata": js_number(value)}
    if isinstance(value, list):
        return {"metadata": js_json(value)}
    if isinstance(value, Mapping):
        return {str(k): v if isinstance(v, str) else js_json(v) for k, v in value.items()}
    raise UnprocessableEntity(f"metadata of type {type(value).__name__} is not JSON")


def lodash_merge(target: Any, source: Any) -> Any:
    """lodash `merge(target, source)` on parsed JSON, without mutating either side.

    Objects merge key by key and arrays index by index (`[1,2,3]` then `[9]` gives `[9,2,3]`); a
    scalar source (null included) replaces; a container source over a scalar is copied.
    """
    if isinstance(source, list):
        merged_list = list(target) if isinstance(target, list) else []
        for index, item in enumerate(source):
            if index < len(merged_list):
                merged_list[index] = _merge_item(merged_list[index], item)
            else:
                merged_list.append(_merge_item(MISSING, item))
        return merged_list
    if isinstance(source, Mapping):
        if isinstance(target, list):
            return _merge_object_into_array(target, source)
        merged = dict(target) if isinstance(target, Mapping) else {}
        for key, item in source.items():
            merged[key] = _merge_item(merged.get(key, MISSING), item)
        return merged
    return source


def _merge_item(target: Any, source: Any) -> Any:
    if isinstance(source, (list, Mapping)):
        return lodash_merge(None if target is MISSING else target, source)
    return source


def _merge_object_into_array(target: list[Any], source: Mapping[str, Any]) -> list[Any]:
    """lodash merges an object into an array by property; only index keys survive JSON text."""
    merged = list(target)
    for key, item in source.items():
        if not (key.isascii() and key.isdigit()) or (len(key) > 1 and key[0] == "0"):
            continue
        index = int(key)
        if index >= len(merged) + _MAX_HOLE:
            continue
        merged.extend([None] * (index + 1 - len(merged)))
        merged[index] = _merge_item(merged[index], item)
    return merged


def _container(text: str) -> Any:
    """The parsed array/object for text that holds one, else MISSING."""
    head = text.lstrip()[:1]
    if head not in ("{", "["):
        return MISSING
    parsed = parse_json_if_possible(text)
    return parsed if isinstance(parsed, (list, dict)) else MISSING


def merge_metadata(base: Mapping[str, str], update: Mapping[str, str]) -> dict[str, str]:
    """Merge two stored metadata maps, later wins (§3.4).

    Equivalent to Langfuse's parse-both → lodash merge → stringify, but only values where *both* sides
    hold a JSON array/object are parsed: everywhere else lodash just takes the later value, and keeping
    it as stored avoids re-formatting strings that merely look like JSON scalars (`"\\"x\\""`).
    """
    if not base:
        return dict(update)
    merged = dict(base)
    for key, value in update.items():
        old = merged.get(key)
        if old is not None and old != value:
            new_tree = _container(value)
            if new_tree is not MISSING:
                old_tree = _container(old)
                if old_tree is not MISSING:
                    merged[key] = js_json(lodash_merge(old_tree, new_tree))
                    continue
        merged[key] = value
    return merged
