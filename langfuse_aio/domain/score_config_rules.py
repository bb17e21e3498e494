"""Score configs: the `POST /api/public/score-configs` body rules (ingestion spec §5.3), the API shape,
and the reading of stored Postgres rows; pure.

Body rules (Langfuse's create schema; unknown keys are ignored):
- `name`: a string of 1..35 characters; `dataType`: NUMERIC, CATEGORICAL or BOOLEAN;
  `description`: an optional string;
- NUMERIC: optional finite `minValue`/`maxValue`; with both, `maxValue > minValue`. Categories are
  not part of a numeric config and are ignored;
- CATEGORICAL: `categories` required, a non-empty list of `{label: non-empty string, value: number}`
  with unique labels and unique values. Bounds are ignored;
- BOOLEAN: `categories` must be absent (null counts as absent); the config is stored with
  `[{label: "True", value: 1}, {label: "False", value: 0}]`. Bounds are ignored.
A stored row is read back only if it still satisfies the same rules (Langfuse answers 500 "corrupted"
for one that does not); the worker treats such a config as missing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from langfuse_aio.domain.api_views import format_datetime
from langfuse_aio.domain.errors import InvalidBodyError
from langfuse_aio.domain.score_inflation import BOOLEAN, CATEGORICAL, NUMERIC, ScoreConfig

CONFIG_DATA_TYPES: Final = (NUMERIC, CATEGORICAL, BOOLEAN)
MAX_NAME_LENGTH: Final = 35
BOOLEAN_CATEGORIES: Final = ({"label": "True", "value": 1}, {"label": "False", "value": 0})
MSG_MAX_NOT_ABOVE_MIN: Final = "Maximum value must be greater than Minimum value"
MSG_DUPLICATE_LABELS: Final = "Duplicate category labels. Category labels must be unique"
MSG_DUPLICATE_VALUES: Final = "Duplicate category values. Category values must be unique"


class InvalidScoreConfigError(InvalidBodyError):
    """A score-config body rule failed."""


@dataclass(frozen=True, slots=True)
class NewScoreConfig:
    name: str
    data_type: str
    description: str | None
    min_value: float | None
    max_value: float | None
    categories: tuple[dict[str, Any], ...] | None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def optional_number(body: Mapping[str, Any], key: str) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if not _is_number(value):
        raise InvalidScoreConfigError((key,), "Expected a finite number")
    return float(value)


def parse_categories(raw: Any) -> tuple[dict[str, Any], ...]:
    if not isinstance(raw, list) or not raw:
        raise InvalidScoreConfigError(("categories",), "Categorical configs need a non-empty list of categories")
    categories: list[dict[str, Any]] = []
    for index, item in enumerate(raw):
        if not isinstance(item, Mapping):
            raise InvalidScoreConfigError(("categories", index), "Expected an object with label and value")
        label, value = item.get("label"), item.get("value")
        if not isinstance(label, str) or not label:
            raise InvalidScoreConfigError(("categories", index, "label"), "Expected a non-empty string")
        if not _is_number(value):
            raise InvalidScoreConfigError(("categories", index, "value"), "Expected a finite number")
        categories.append({"label": label, "value": value})
    if len({c["label"] for c in categories}) != len(categories):
        raise InvalidScoreConfigError(("categories",), MSG_DUPLICATE_LABELS)
    if len({float(c["value"]) for c in categories}) != len(categories):
        raise InvalidScoreConfigError(("categories",), MSG_DUPLICATE_VALUES)
    return tuple(categories)


def parse_new_config(body: Any) -> NewScoreConfig:
    """The validated config to create; raises InvalidScoreConfigError naming the failing field."""
    if not isinstance(body, Mapping):
        raise InvalidScoreConfigError((), "Expected an object")
    name = body.get("name")
    if not isinstance(name, str):
        raise InvalidScoreConfigError(("name",), "Required string")
    if not 1 <= len(name) <= MAX_NAME_LENGTH:
        raise InvalidScoreConfigError(("name",), f"Must be 1 to {MAX_NAME_LENGTH} characters long")
    data_type = body.get("dataType")
    if data_type not in CONFIG_DATA_TYPES:
        raise InvalidScoreConfigError(("dataType",), f"Expected one of {', '.join(CONFIG_DATA_TYPES)}")
    description = body.get("description")
    if description is not None and not isinstance(description, str):
        raise InvalidScoreConfigError(("description",), "Expected a string")
    min_value = max_value = None
    categories: tuple[dict[str, Any], ...] | None = None
    if data_type == NUMERIC:
        min_value, max_value = optional_number(body, "minValue"), optional_number(body, "maxValue")
        if min_value is not None and max_value is not None and max_value <= min_value:
            raise InvalidScoreConfigError(("maxValue",), MSG_MAX_NOT_ABOVE_MIN)
    elif data_type == CATEGORICAL:
        categories = parse_categories(body.get("categories"))
    else:
        if body.get("categories") is not None:
            raise InvalidScoreConfigError(("categories",), "Boolean configs take no categories: they are True/False")
        categories = BOOLEAN_CATEGORIES
    return NewScoreConfig(name, data_type, description, min_value, max_value, categories)


# --- stored rows --------------------------------------------------------------------------------------


def stored_config_problem(row: Mapping[str, Any]) -> str | None:
    """Why a Postgres `score_configs` row cannot be served (None when it is fine)."""
    name = row.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME_LENGTH:
        return "name is not 1..35 characters"
    data_type = row.get("data_type")
    if data_type not in CONFIG_DATA_TYPES:
        return f"data type {data_type!r} is not supported"
    for key in ("min_value", "max_value"):
        if row.get(key) is not None and not _is_number(row[key]):
            return f"{key} is not a finite number"
    categories = row.get("categories")
    if data_type == NUMERIC:
        return None
    try:
        parse_categories(categories)
    except InvalidScoreConfigError as exc:
        return f"categories: {exc.problem}"
    return None


def config_to_api(row: Mapping[str, Any]) -> dict[str, Any]:
    """A valid stored row as the API's ScoreConfig."""
    categories = row.get("categories")
    return {
        "id": row["id"],
        "name": row["name"],
        "createdAt": format_datetime(row["created_at"]),
        "updatedAt": format_datetime(row["updated_at"]),
        "projectId": row["project_id"],
        "dataType": row["data_type"],
        "isArchived": bool(row.get("is_archived")),
        "minValue": None if row.get("min_value") is None else float(row["min_value"]),
        "maxValue": None if row.get("max_value") is None else float(row["max_value"]),
        "categories": None if categories is None else [
            {"label": c["label"], "value": c["value"]} for c in categories
        ],
        "description": row.get("description"),
    }


def config_for_inflation(row: Mapping[str, Any]) -> ScoreConfig | None:
    """A stored row as the worker's ScoreConfig, or None when it fails the rules (treated as missing)."""
    if stored_config_problem(row) is not None:
        return None
    return ScoreConfig(
        id=str(row["id"]),
        name=str(row["name"]),
        data_type=str(row["data_type"]),
        is_archived=bool(row.get("is_archived")),
        min_value=None if row.get("min_value") is None else float(row["min_value"]),
        max_value=None if row.get("max_value") is None else float(row["max_value"]),
        categories=tuple((str(c["label"]), float(c["value"])) for c in (row.get("categories") or ())),
    )


def named_config_ids(event_lists: Iterable[Iterable[Mapping[str, Any]]]) -> set[str]:
    """The `configId`s that score events name (events as stored: `{"body": {...}, ...}`)."""
    return {
        config_id
        for events in event_lists
        for event in events
        if isinstance(body := event.get("body"), Mapping) and isinstance(config_id := body.get("configId"), str)
    }
