"""`/api/public/models`: the create body's rules and the `Model` response shape (current OpenAPI); pure.

Create (`CreateModelRequest`): `modelName` and `matchPattern` non-empty strings; `startDate` an ISO
date-time or null; `unit` one of the ModelUsageUnit values or null; `tokenizerId` `openai`, `claude` or
null; `tokenizerConfig` any JSON. Prices come either flat (`inputPrice`/`outputPrice`/`totalPrice`,
numbers >= 0; with input or output set, total must be null) and become one default tier "Standard",
or as `pricingTiers` (never both): exactly one default tier with priority 0 and no conditions, unique
names and priorities, at least one price per tier, conditions in Langfuse's shape. Neither is allowed
too (a model used only for tokenization). Whether Postgres accepts `matchPattern` is checked by the
storage layer. The response's flat price fields and `prices` come from the default tier.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from langfuse_aio.domain.api_views import format_datetime
from langfuse_aio.domain.errors import InvalidBodyError
from langfuse_aio.domain.pricing import (
    DEFAULT_TIER_NAME,
    TOKENIZER_IDS,
    UNITS,
    Condition,
    ModelDefinition,
    condition_to_json,
    parse_condition,
)

MSG_TOTAL_WITH_PARTS: Final = "If input and/or output price is set, total price must be null"
MSG_TIERS_WITH_FLAT: Final = (
    "Cannot provide both flat prices (inputPrice/outputPrice/totalPrice) and pricingTiers. Use one or the other."
)
_FLAT: Final = (("inputPrice", "input"), ("outputPrice", "output"), ("totalPrice", "total"))


class InvalidModelError(InvalidBodyError):
    """A model create-body rule failed."""


@dataclass(frozen=True, slots=True)
class NewTier:
    name: str
    is_default: bool
    priority: int
    conditions: tuple[Condition, ...]
    prices: dict[str, Decimal]


@dataclass(frozen=True, slots=True)
class NewModel:
    model_name: str
    match_pattern: str
    start_date: datetime | None
    unit: str | None
    tokenizer_id: str | None
    tokenizer_config: Any
    tiers: tuple[NewTier, ...]

    @property
    def legacy_prices(self) -> dict[str, Decimal]:
        """The default tier's input/output/total: Langfuse's legacy `models` price columns."""
        default = next((t for t in self.tiers if t.is_default), None)
        return {} if default is None else {k: v for k, v in default.prices.items() if k in ("input", "output", "total")}


def _price(value: Any, path: tuple[str | int, ...]) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidModelError(path, "Expected a finite number")
    if value < 0:
        raise InvalidModelError(path, "Price must be a non-negative number")
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def _text(body: Mapping[str, Any], key: str, *, required: bool) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise InvalidModelError((key,), "Expected a non-empty string" if required else "Expected a string")
    return value


def _start_date(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidModelError(("startDate",), "Expected an ISO 8601 date-time")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidModelError(("startDate",), "Expected an ISO 8601 date-time") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _tier(raw: Any, index: int) -> NewTier:
    path: tuple[str | int, ...] = ("pricingTiers", index)
    if not isinstance(raw, Mapping):
        raise InvalidModelError(path, "Expected an object")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidModelError((*path, "name"), "Expected a non-empty string")
    is_default, priority = raw.get("isDefault"), raw.get("priority")
    if not isinstance(is_default, bool):
        raise InvalidModelError((*path, "isDefault"), "Expected a boolean")
    if not isinstance(priority, int) or isinstance(priority, bool) or priority < 0:
        raise InvalidModelError((*path, "priority"), "Expected a non-negative integer")
    conditions_raw = raw.get("conditions")
    if not isinstance(conditions_raw, list):
        raise InvalidModelError((*path, "conditions"), "Expected an array")
    conditions = []
    for i, item in enumerate(conditions_raw):
        try:
            conditions.append(parse_condition(item))
        except ValueError as exc:
            raise InvalidModelError((*path, "conditions", i), str(exc)) from None
    prices_raw = raw.get("prices")
    if not isinstance(prices_raw, Mapping) or not prices_raw:
        raise InvalidModelError((*path, "prices"), "Each tier must define at least one price")
    prices = {str(k): _price(v, (*path, "prices", str(k))) for k, v in prices_raw.items()}
    if is_default and (priority != 0 or conditions):
        raise InvalidModelError(path, "The default tier must have priority 0 and no conditions")
    if not is_default and not conditions:
        raise InvalidModelError((*path, "conditions"), "A non-default tier needs at least one condition")
    return NewTier(name, is_default, priority, tuple(conditions), prices)


def _tiers(body: Mapping[str, Any]) -> tuple[NewTier, ...]:
    flat = {usage: body.get(key) for key, usage in _FLAT if body.get(key) is not None}
    raw_tiers = body.get("pricingTiers")
    if raw_tiers is not None:
        if flat:
            raise InvalidModelError(("pricingTiers",), MSG_TIERS_WITH_FLAT)
        if not isinstance(raw_tiers, list) or not raw_tiers:
            raise InvalidModelError(("pricingTiers",), "Expected a non-empty array")
        tiers = tuple(_tier(raw, i) for i, raw in enumerate(raw_tiers))
        if sum(t.is_default for t in tiers) != 1:
            raise InvalidModelError(("pricingTiers",), "Exactly one tier must be the default tier")
        if len({t.name for t in tiers}) != len(tiers) or len({t.priority for t in tiers}) != len(tiers):
            raise InvalidModelError(("pricingTiers",), "Tier names and priorities must be unique")
        return tiers
    if ("input" in flat or "output" in flat) and "total" in flat:
        raise InvalidModelError(("totalPrice",), MSG_TOTAL_WITH_PARTS)
    if not flat:
        return ()
    prices = {usage: _price(value, (key,)) for key, usage in _FLAT if (value := body.get(key)) is not None}
    return (NewTier(DEFAULT_TIER_NAME, True, 0, (), prices),)


def parse_new_model(body: Any) -> NewModel:
    if not isinstance(body, Mapping):
        raise InvalidModelError((), "Expected an object")
    model_name = _text(body, "modelName", required=True)
    match_pattern = _text(body, "matchPattern", required=True)
    assert model_name is not None and match_pattern is not None
    unit = body.get("unit")
    if unit is not None and unit not in UNITS:
        raise InvalidModelError(("unit",), f"Expected one of {', '.join(UNITS)}")
    tokenizer_id = body.get("tokenizerId")
    if tokenizer_id is not None and tokenizer_id not in TOKENIZER_IDS:
        raise InvalidModelError(("tokenizerId",), f"Expected one of {', '.join(TOKENIZER_IDS)}")
    return NewModel(model_name, match_pattern, _start_date(body.get("startDate")), unit, tokenizer_id,
                    body.get("tokenizerConfig"), _tiers(body))


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def model_to_api(model: ModelDefinition) -> dict[str, Any]:
    default = model.default_tier
    flat = default.prices if default is not None else {}
    return {
        "id": model.id,
        "modelName": model.model_name,
        "matchPattern": model.match_pattern,
        "startDate": format_datetime(model.start_date),
        "unit": model.unit,
        "inputPrice": _float(flat.get("input")),
        "outputPrice": _float(flat.get("output")),
        "totalPrice": _float(flat.get("total")),
        "tokenizerId": model.tokenizer_id,
        "tokenizerConfig": model.tokenizer_config,
        "isLangfuseManaged": model.project_id is None,
        "createdAt": format_datetime(model.created_at),
        "prices": {usage: {"price": float(price)} for usage, price in flat.items()},
        "pricingTiers": [
            {"id": tier.id, "name": tier.name, "isDefault": tier.is_default, "priority": tier.priority,
             "conditions": [condition_to_json(c) for c in tier.conditions],
             "prices": {usage: float(price) for usage, price in tier.prices.items()}}
            for tier in model.tiers
        ],
    }
