"""Score validation and inflation in the worker (`validateAndInflateScore`, ingestion spec §5.2); pure.

Without a config the data type follows the value (number → NUMERIC, string → CATEGORICAL) and must fit a
given `dataType`. With a config (looked up by the worker and passed in) the config's name and data type
win and the value is checked against it (HEAD rules: inclusive bounds).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from langfuse_aio.domain.metadata import js_number
from langfuse_aio.domain.unprocessable import UnprocessableEntity

NUMERIC: Final = "NUMERIC"
CATEGORICAL: Final = "CATEGORICAL"
BOOLEAN: Final = "BOOLEAN"
DATA_TYPES: Final = frozenset({NUMERIC, CATEGORICAL, BOOLEAN})

MSG_VALUE_TYPE: Final = (
    "Ingested score value type not valid against provided data type. Provide numeric values for numeric and "
    "boolean scores, and string values for categorical scores."
)
MSG_NO_CONFIG: Final = "The configId you provided does not match a valid config in this project"
MSG_ARCHIVED: Final = "Config is archived and cannot be used to create new scores. Please restore the config first."
MSG_CONFIG_TYPE: Final = "Ingested score body not valid against provided config data type."
_MSG_AGAINST_CONFIG: Final = "Ingested score body not valid against provided config: value - "


@dataclass(frozen=True, slots=True)
class ScoreConfig:
    """The parts of a Postgres `score_configs` row that inflation needs."""

    id: str
    name: str
    data_type: str
    is_archived: bool = False
    min_value: float | None = None
    max_value: float | None = None
    categories: tuple[tuple[str, float], ...] = ()  # (label, value); BOOLEAN configs need none


def _is_number(value: Any) -> bool:
    return type(value) is int or type(value) is float


def _check_against_config(config: ScoreConfig, body_type: Any, value: Any) -> float | None:
    """Validate one score against its config; returns the category value of a CATEGORICAL string."""
    if body_type is not None and body_type != config.data_type:
        raise UnprocessableEntity(f"Data type mismatch based on config: expected {config.data_type}, got {body_type}")
    if config.is_archived:
        raise UnprocessableEntity(MSG_ARCHIVED)
    if (config.data_type == CATEGORICAL) != isinstance(value, str):
        raise UnprocessableEntity(MSG_CONFIG_TYPE)
    if config.data_type == NUMERIC:
        if config.max_value is not None and value > config.max_value:
            raise UnprocessableEntity(
                f"{_MSG_AGAINST_CONFIG}Value exceeds maximum value of {js_number(config.max_value)} defined in config"
            )
        if config.min_value is not None and value < config.min_value:
            raise UnprocessableEntity(
                f"{_MSG_AGAINST_CONFIG}Value is below minimum value of {js_number(config.min_value)} defined in config"
            )
        return None
    if config.data_type == BOOLEAN:
        if value not in (0, 1):
            raise UnprocessableEntity(
                f"{_MSG_AGAINST_CONFIG}Value {js_number(value)} does not map to a valid category. "
                "Pass a valid category value."
            )
        return None
    for label, category_value in config.categories:
        if label == value:
            return float(category_value)
    raise UnprocessableEntity(
        f"{_MSG_AGAINST_CONFIG}Value {value} does not map to a valid category. Pass a valid category value."
    )


def inflate_score(body: Mapping[str, Any], configs: Mapping[str, ScoreConfig] | None) -> dict[str, Any]:
    """The stored shape of one score event: `name, value, string_value, data_type, config_id`.

    `configs` maps config id → config for the ids the events use; None skips the lookup (the
    worker always passes what it found), and a `configId` is then persisted without validation.
    `value` is None for a CATEGORICAL score without a config (stored as 0 by the merge).
    """
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise UnprocessableEntity("score name is missing or not a non-empty string")
    value = body.get("value")
    if not (_is_number(value) or isinstance(value, str)):
        raise UnprocessableEntity("score value is neither a number nor a string")
    body_type = body.get("dataType")
    if body_type is not None and body_type not in DATA_TYPES:
        raise UnprocessableEntity(f"score dataType is not one of NUMERIC, CATEGORICAL, BOOLEAN: {body_type!r}")
    config_id = body.get("configId")
    if config_id is not None and not isinstance(config_id, str):
        raise UnprocessableEntity("score configId is not a string")

    category_value: float | None = None
    if config_id and configs is not None:
        config = configs.get(config_id)
        if config is None:
            raise UnprocessableEntity(MSG_NO_CONFIG)
        category_value = _check_against_config(config, body_type, value)
        name, data_type = config.name, config.data_type
    else:
        # configs=None (callers that skip the lookup): a configId is stored unvalidated.
        data_type = body_type or (CATEGORICAL if isinstance(value, str) else NUMERIC)
        if (data_type == CATEGORICAL) != isinstance(value, str):
            raise UnprocessableEntity(MSG_VALUE_TYPE)
        if data_type == BOOLEAN and value not in (0, 1):
            raise UnprocessableEntity(MSG_VALUE_TYPE)

    result: dict[str, Any] = {"name": name, "data_type": data_type}
    if config_id:
        result["config_id"] = config_id
    if isinstance(value, str):
        result["value"] = category_value
        result["string_value"] = value
    elif isinstance(value, (int, float)):
        result["value"] = float(value)
        result["string_value"] = ("True" if value == 1 else "False") if data_type == BOOLEAN else None
    return result
