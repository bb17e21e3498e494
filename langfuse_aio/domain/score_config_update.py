"""`PATCH /api/public/score-configs/{configId}`: which fields change and whether the result is valid; pure.

The body (Langfuse's UpdateScoreConfigRequest; unknown keys are ignored) names at least one of:
- `isArchived`: a boolean; `name`: a string of 1..35 characters (neither may be null);
- `description`: a string, or null to clear it;
- `minValue`/`maxValue`: a finite number, or null to clear the bound; a number only on a NUMERIC config;
- `categories`: on a CATEGORICAL config a non-empty list of unique `{label, value}` pairs, as for POST;
  a NUMERIC config takes none (null is accepted), and a BOOLEAN config keeps its True/False pair
  (sending that same pair, or null, changes nothing).
The data type never changes. The changed config must still satisfy the POST rules as a whole (for
instance `maxValue > minValue` with the stored bound), so a stored row that had gone bad can be
repaired by a PATCH but never made bad by one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from langfuse_aio.domain.score_config_rules import (
    BOOLEAN_CATEGORIES,
    MAX_NAME_LENGTH,
    MSG_MAX_NOT_ABOVE_MIN,
    InvalidScoreConfigError,
    optional_number,
    parse_categories,
    stored_config_problem,
)
from langfuse_aio.domain.score_inflation import BOOLEAN, CATEGORICAL, NUMERIC

UPDATABLE_FIELDS: Final = ("isArchived", "name", "description", "minValue", "maxValue", "categories")
MSG_EMPTY_BODY: Final = "Request body cannot be empty. At least one field must be provided for update."

Row = dict[str, Any]


def _field_changes(body: Mapping[str, Any], data_type: str) -> Row:
    """The Postgres columns the body sets, each value checked on its own."""
    changes: Row = {}
    if "isArchived" in body:
        if not isinstance(body["isArchived"], bool):
            raise InvalidScoreConfigError(("isArchived",), "Expected a boolean")
        changes["is_archived"] = body["isArchived"]
    if "name" in body:
        name = body["name"]
        if not isinstance(name, str):
            raise InvalidScoreConfigError(("name",), "Expected a string")
        if not 1 <= len(name) <= MAX_NAME_LENGTH:
            raise InvalidScoreConfigError(("name",), f"Must be 1 to {MAX_NAME_LENGTH} characters long")
        changes["name"] = name
    if "description" in body:
        if body["description"] is not None and not isinstance(body["description"], str):
            raise InvalidScoreConfigError(("description",), "Expected a string or null")
        changes["description"] = body["description"]
    for key, column in (("minValue", "min_value"), ("maxValue", "max_value")):
        if key in body:
            bound = optional_number(body, key)
            if bound is not None and data_type != NUMERIC:
                raise InvalidScoreConfigError((key,), f"Only NUMERIC configs have bounds; this one is {data_type}")
            changes[column] = bound
    if "categories" in body:
        changes.update(_category_change(body["categories"], data_type))
    return changes


def _category_change(raw: Any, data_type: str) -> Row:
    if data_type == CATEGORICAL:
        return {"categories": list(parse_categories(raw))}
    if raw is None:
        return {}
    if data_type == BOOLEAN:
        if raw == list(BOOLEAN_CATEGORIES):
            return {}
        raise InvalidScoreConfigError(("categories",), "Boolean configs take no categories: they are True/False")
    raise InvalidScoreConfigError(("categories",), f"Only CATEGORICAL configs have categories; this one is {data_type}")


def updated_fields(body: Any) -> list[str]:
    """The API fields the body changes (at least one), or InvalidScoreConfigError."""
    if not isinstance(body, Mapping):
        raise InvalidScoreConfigError((), "Expected an object")
    fields = [key for key in UPDATABLE_FIELDS if key in body]
    if not fields:
        raise InvalidScoreConfigError((), MSG_EMPTY_BODY)
    return fields


def apply_update(row: Mapping[str, Any], body: Any) -> Row:
    """The stored row with the body's changes applied (columns as in Postgres), or InvalidScoreConfigError."""
    updated_fields(body)
    data_type = str(row.get("data_type"))
    updated = {**row, **_field_changes(body, data_type)}
    low, high = updated.get("min_value"), updated.get("max_value")
    if data_type == NUMERIC and low is not None and high is not None and float(high) <= float(low):
        raise InvalidScoreConfigError(("maxValue" if "maxValue" in body else "minValue",), MSG_MAX_NOT_ABOVE_MIN)
    problem = stored_config_problem(updated)
    if problem is not None:  # a bad stored field the body did not replace
        raise InvalidScoreConfigError((), f"The updated config would be invalid: {problem}")
    return updated
