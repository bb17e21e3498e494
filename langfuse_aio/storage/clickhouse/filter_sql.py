"""Conditions of the structured `filter` as ClickHouse SQL on a trusted column expression.

Each route maps an API column to a SQL expression written here in the code (never from the
request); the condition's value, and the metadata key, are bound parameters named after the
condition's position (`sf<i>`, `sf<i>_key`), so several conditions never collide.

Semantics, as Langfuse's filters on its traces/observations tables:
- strings compare case-sensitively (`position`, `startsWith`, `endsWith`); NULL matches no string
  comparison, not even `does not contain` or `none of` (use the `null` type for it). `matches`
  (v2 input/output) is a literal, case-insensitive substring test; on metadata it is case-sensitive;
- metadata is the `Map(String, String)` column: a missing key reads as '' (so `does not contain`
  and `none of` match rows without the key); numbers in metadata are read with `toFloat64OrNull`;
- numbers compare as Float64; date-times with microsecond precision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from langfuse_aio.domain.structured_filter import MATCHES, Condition

_COMPARISONS: Final = {"=": "=", ">": ">", "<": "<", ">=": ">=", "<=": "<=", "<>": "!="}


@dataclass(frozen=True, slots=True)
class Sql:
    text: str
    params: dict[str, Any]


def param_name(condition: Condition) -> str:
    return f"sf{condition.index}"


def _string(expr: str, operator: str, p: str, *, case_insensitive_match: bool) -> str:
    value = f"{{{p}:String}}"
    if operator == "=":
        return f"{expr} = {value}"
    if operator == "contains":
        return f"position({expr}, {value}) > 0"
    if operator == "does not contain":
        return f"position({expr}, {value}) = 0"
    if operator == "starts with":
        return f"startsWith({expr}, {value})"
    if operator == "ends with":
        return f"endsWith({expr}, {value})"
    if operator == MATCHES:
        function = "positionCaseInsensitiveUTF8" if case_insensitive_match else "position"
        return f"{function}({expr}, {value}) > 0"
    raise ValueError(f"unknown string operator {operator!r}")


def _options(expr: str, operator: str, p: str) -> str:
    found = f"has({{{p}:Array(String)}}, {expr})"
    if operator == "any of":
        return found
    if operator == "none of":
        return f"(isNotNull({expr}) AND NOT {found})"
    raise ValueError(f"unknown options operator {operator!r}")


def _array(expr: str, operator: str, p: str) -> str:
    values = f"{{{p}:Array(String)}}"
    if operator == "any of":
        return f"hasAny({expr}, {values})"
    if operator == "none of":
        return f"NOT hasAny({expr}, {values})"
    if operator == "all of":
        return f"hasAll({expr}, {values})"
    raise ValueError(f"unknown array operator {operator!r}")


def compare(expr: str, operator: str, placeholder: str) -> str:
    """`expr <op> placeholder` for an operator of the number, datetime or boolean types."""
    return f"{expr} {_COMPARISONS[operator]} {placeholder}"


def render(condition: Condition, expr: str) -> Sql:
    """The condition on `expr` (for metadata types: the Map column)."""
    p = param_name(condition)
    kind, op, value = condition.type, condition.operator, condition.value
    params: dict[str, Any] = {} if kind == "null" else {p: list(value) if isinstance(value, tuple) else value}
    if kind in ("stringObject", "numberObject", "categoryOptions") and condition.key is not None:
        params[f"{p}_key"] = condition.key
        expr = f"{expr}[{{{p}_key:String}}]"
    if kind in ("string", "stringObject"):
        text = _string(expr, op, p, case_insensitive_match=kind == "string")
    elif kind in ("stringOptions", "categoryOptions"):
        text = _options(expr, op, p)
    elif kind == "arrayOptions":
        text = _array(expr, op, p)
    elif kind == "number":
        text = compare(f"toFloat64({expr})", op, f"{{{p}:Float64}}")
    elif kind == "numberObject":
        text = compare(f"toFloat64OrNull({expr})", op, f"{{{p}:Float64}}")
    elif kind == "datetime":
        text = compare(expr, op, f"{{{p}:DateTime64(6)}}")
    elif kind == "boolean":
        params[p] = int(bool(value))
        text = compare(f"toUInt8({expr})", op, f"{{{p}:UInt8}}")
    elif kind == "null":
        text = f"isNull({expr})" if op == "is null" else f"isNotNull({expr})"
    else:
        raise ValueError(f"type {kind!r} has no generic rendering")
    return Sql(f"({text})", params)
