"""The structured `filter` query parameter of the trace and observation lists: parsing and checks; pure.

`filter` is a JSON array of conditions `{type, column, operator, value, key}` (Langfuse's filter
state). Each is checked against the route's column catalogue (`filter_columns`): the column must
exist, accept the condition's type, and the operator must belong to that type:

| type | operators | value |
| --- | --- | --- |
| datetime | > < >= <= | ISO 8601 date-time string |
| string | = contains, does not contain, starts with, ends with (+ matches where the column allows) | string |
| stringOptions, categoryOptions | any of, none of | array of strings |
| arrayOptions | any of, none of, all of | array of strings |
| number | = > < >= <= | finite number |
| stringObject | as string | string; `key` names the metadata key |
| numberObject | as number | finite number; `key` required |
| booleanObject, boolean | = <> | true or false (booleanObject: `key` required) |
| null | is null, is not null | ignored |

`categoryOptions` also needs `key`. A problem is a 400 naming `filter`, with the item's index and the
reason. The result is a tuple of hashable `Condition`s (column names resolved to their canonical
name), so filters can key caches. Storage turns them into SQL.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from langfuse_aio.domain import query_params as q
from langfuse_aio.domain.query_params import InvalidQueryError

PARAM: Final = "filter"
MAX_CONDITIONS: Final = 100
MATCHES: Final = "matches"
_STRING_OPS = ("=", "contains", "does not contain", "starts with", "ends with")
_NUMBER_OPS = ("=", ">", "<", ">=", "<=")
OPERATORS: Final[Mapping[str, tuple[str, ...]]] = {
    "datetime": (">", "<", ">=", "<="),
    "string": _STRING_OPS,
    "stringOptions": ("any of", "none of"),
    "categoryOptions": ("any of", "none of"),
    "arrayOptions": ("any of", "none of", "all of"),
    "number": _NUMBER_OPS,
    "stringObject": _STRING_OPS,
    "numberObject": _NUMBER_OPS,
    "booleanObject": ("=", "<>"),
    "boolean": ("=", "<>"),
    "null": ("is null", "is not null"),
}
KEYED_TYPES: Final = frozenset({"stringObject", "numberObject", "booleanObject", "categoryOptions"})

FilterValue = str | float | bool | datetime | tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """A filterable column of one route: its canonical API name and the filter types it takes."""

    name: str
    types: frozenset[str]
    matches: bool = False  # also takes the `matches` operator (v2 input, output, metadata)
    needs_anchor: bool = False  # v2 input/output: only beside an `=` or `matches` condition on them


@dataclass(frozen=True, slots=True)
class Condition:
    index: int  # position in the filter array, for messages
    column: str  # canonical API column name
    type: str
    operator: str
    value: FilterValue
    key: str | None = None


def _fail(index: int | None, problem: str) -> InvalidQueryError:
    where = "" if index is None else f"item {index}: "
    return InvalidQueryError(PARAM, where + problem)


class _One:
    """One query value, shaped like request args, to reuse the timestamp reader."""

    def __init__(self, value: str) -> None:
        self._value = value

    def getlist(self, key: str) -> list[str]:
        return [self._value]


def _value(index: int, type_: str, raw: Any) -> FilterValue:
    if type_ == "null":
        return None
    if type_ == "datetime":
        if not isinstance(raw, str) or not raw:
            raise _fail(index, "`value` must be an ISO 8601 date-time string for type datetime")
        try:
            return q.timestamp(_One(raw), PARAM)
        except InvalidQueryError:
            raise _fail(index, f"`value` must be an ISO 8601 date-time string, got {raw!r}") from None
    if type_ in ("string", "stringObject"):
        if not isinstance(raw, str):
            raise _fail(index, f"`value` must be a string for type {type_}")
        return raw
    if type_ in ("number", "numberObject"):
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
            raise _fail(index, f"`value` must be a finite number for type {type_}")
        return float(raw)
    if type_ in ("boolean", "booleanObject"):
        if not isinstance(raw, bool):
            raise _fail(index, f"`value` must be true or false for type {type_}")
        return raw
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise _fail(index, f"`value` must be an array of strings for type {type_}")
    return tuple(dict.fromkeys(raw))


def _condition(index: int, item: Any, columns: Mapping[str, ColumnSpec]) -> Condition:
    if not isinstance(item, Mapping):
        raise _fail(index, "expected an object with type, column, operator and value")
    for field in ("type", "column", "operator"):
        if not isinstance(item.get(field), str) or not item[field]:
            raise _fail(index, f"`{field}` is required and must be a non-empty string")
    type_, column, operator = str(item["type"]), str(item["column"]), str(item["operator"])
    if type_ not in OPERATORS:
        raise _fail(index, f"unknown type {type_!r}; expected one of {', '.join(OPERATORS)}")
    spec = columns.get(column)
    if spec is None:
        raise _fail(index, f"unknown column {column!r}; filterable columns: {', '.join(sorted(columns))}")
    if type_ not in spec.types:
        raise _fail(index, f"column {column!r} takes type {' or '.join(sorted(spec.types))}, not {type_!r}")
    allowed = OPERATORS[type_] + ((MATCHES,) if spec.matches and type_ in ("string", "stringObject") else ())
    if operator not in allowed:
        raise _fail(index, f"operator {operator!r} does not apply to type {type_}; "
                           f"expected one of {', '.join(allowed)}")
    if type_ != "null" and "value" not in item:
        raise _fail(index, f"`value` is required for type {type_}")
    value = _value(index, type_, item.get("value"))
    key = item.get("key")
    if type_ in KEYED_TYPES:
        if not isinstance(key, str) or not key:
            raise _fail(index, f"`key` is required for type {type_} (e.g. the metadata key or score name)")
    else:
        key = None
    return Condition(index, spec.name, type_, operator, value, key)


def parse_filter(raw: str | None, columns: Mapping[str, ColumnSpec]) -> tuple[Condition, ...]:
    """The conditions of a `filter` value (None or empty: none), checked against `columns`."""
    if raw is None or not raw.strip():
        return ()
    try:
        items = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise _fail(None, f"is not valid JSON ({exc})") from None
    if not isinstance(items, list):
        raise _fail(None, "must be a JSON array of filter conditions")
    if len(items) > MAX_CONDITIONS:
        raise _fail(None, f"at most {MAX_CONDITIONS} conditions are allowed, got {len(items)}")
    conditions = tuple(_condition(i, item, columns) for i, item in enumerate(items))
    anchored = [c for c in conditions if columns[c.column].needs_anchor]
    if anchored and not any(c.operator in ("=", MATCHES) for c in anchored):
        raise _fail(anchored[0].index, "an input or output filter needs an `=` or `matches` condition on input "
                                       "or output beside it")
    return conditions


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def holds_for(condition: Condition, value: float | str | None) -> bool:
    """Whether `condition` holds for a known `value` (None: SQL NULL, which only `is null` matches).

    Used for per-trace figures, to tell whether a trace without observations matches."""
    if condition.operator == "is null":
        return value is None
    if condition.operator == "is not null":
        return value is not None
    if value is None:
        return False
    target = condition.value
    if isinstance(value, float) and isinstance(target, float):
        return {"=": value == target, ">": value > target, "<": value < target,
                ">=": value >= target, "<=": value <= target}[condition.operator]
    if isinstance(value, str) and isinstance(target, tuple):
        return (value in target) == (condition.operator == "any of")
    if isinstance(value, str) and isinstance(target, str):
        return {"=": value == target, "contains": target in value, "does not contain": target not in value,
                "starts with": value.startswith(target), "ends with": value.endswith(target)}[condition.operator]
    raise ValueError(f"cannot evaluate {condition.type} condition on {value!r}")
