"""The default model table we ship and refresh: reading it, and deriving it from upstream figures; pure.

Our table (`langfuse_aio/data/default_models.json`, made by `scripts/build_default_models.py`) is
`{"format": 1, "models": [...]}`; each model has `id`, `modelName`, `matchPattern`, `updatedAt`,
`tokenizerId`, `tokenizerConfig` and `pricingTiers` (`id`, `name`, `isDefault`, `priority`,
`conditions` in Langfuse's shape, `prices` as decimal strings, usage type → USD per unit).

`derive_table` turns upstream's `default-model-prices.json` (a list of Langfuse entries) into ours with
our own ids: `lfaio-<slug of the model name>` for models, Langfuse's `<model id>_tier_default` for the
default tier and `<model id>_tier_<priority>` for conditional tiers; float prices become the exact
decimal of their shortest repr. `parse_table` accepts either form, so `langfuse-aio models refresh`
takes a newer upstream file as it is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from langfuse_aio.domain.pricing import (
    TOKENIZER_IDS,
    ModelDefinition,
    PricingTier,
    default_tier_id,
    parse_condition,
)

FORMAT: Final = 1
ID_PREFIX: Final = "lfaio-"


class ModelTableError(ValueError):
    """The table (or one entry of it) is not valid; the message names the entry."""


def managed_model_id(model_name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", model_name.strip().lower()).strip("-")
    return ID_PREFIX + (slug or "model")


def _price_text(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ModelTableError(f"{where}: price is not a number")
    try:
        amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation as exc:
        raise ModelTableError(f"{where}: price is not a number") from exc
    if not amount.is_finite() or amount < 0:
        raise ModelTableError(f"{where}: price must be a finite number >= 0")
    return format(amount.normalize(), "f")


def _tier_json(model_id: str, tier: Mapping[str, Any], where: str) -> dict[str, Any]:
    is_default = tier.get("isDefault") is True
    priority = tier.get("priority", 0)
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise ModelTableError(f"{where}: priority is not an integer")
    prices = tier.get("prices") or {}
    if not isinstance(prices, Mapping):
        raise ModelTableError(f"{where}: prices is not an object")
    return {
        "id": default_tier_id(model_id) if is_default else f"{model_id}_tier_{priority}",
        "name": str(tier.get("name") or ("Standard" if is_default else f"Tier {priority}")),
        "isDefault": is_default,
        "priority": priority,
        "conditions": list(tier.get("conditions") or []),
        "prices": {str(k): _price_text(v, f"{where} price {k!r}") for k, v in prices.items()},
    }


def derive_table(upstream: list[Any]) -> dict[str, Any]:
    """Our table from upstream's list of entries (see module doc); raises ModelTableError."""
    models: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, entry in enumerate(upstream):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("modelName"), str):
            raise ModelTableError(f"entry {index}: not a model entry with a modelName")
        name = entry["modelName"]
        model_id = managed_model_id(name)
        if model_id in seen:
            raise ModelTableError(f"entry {index} ({name!r}): its id {model_id!r} is taken by another entry")
        seen.add(model_id)
        tiers = entry.get("pricingTiers")
        if tiers is None and isinstance(entry.get("prices"), Mapping):  # the older flat format
            tiers = [{"isDefault": True, "priority": 0, "conditions": [], "prices": entry["prices"]}]
        models.append({
            "id": model_id,
            "modelName": name,
            "matchPattern": entry.get("matchPattern"),
            "updatedAt": entry.get("updatedAt"),
            "tokenizerId": entry.get("tokenizerId"),
            "tokenizerConfig": entry.get("tokenizerConfig"),
            "pricingTiers": [_tier_json(model_id, t, f"{name!r} tier {i}") for i, t in enumerate(tiers or [])],
        })
    return {"format": FORMAT, "models": models}


def _timestamp(value: Any, where: str) -> datetime:
    if not isinstance(value, str):
        raise ModelTableError(f"{where}: updatedAt is not an ISO date-time")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ModelTableError(f"{where}: updatedAt is not an ISO date-time") from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _tier(raw: Mapping[str, Any], where: str) -> PricingTier:
    try:
        conditions = tuple(parse_condition(c) for c in raw.get("conditions") or [])
    except ValueError as exc:
        raise ModelTableError(f"{where}: {exc}") from exc
    prices = {str(k): Decimal(_price_text(v, where)) for k, v in (raw.get("prices") or {}).items()}
    return PricingTier(str(raw["id"]), str(raw["name"]), bool(raw["isDefault"]), int(raw["priority"]),
                       conditions, prices)


def _model(raw: Any, index: int) -> ModelDefinition:
    if not isinstance(raw, Mapping):
        raise ModelTableError(f"model {index}: not an object")
    where = f"model {index} ({raw.get('modelName')!r})"
    for key in ("id", "modelName", "matchPattern"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise ModelTableError(f"{where}: {key} must be a non-empty string")
    if raw.get("tokenizerId") not in (None, *TOKENIZER_IDS):
        raise ModelTableError(f"{where}: tokenizerId must be one of {TOKENIZER_IDS} or null")
    tiers = tuple(_tier(t, f"{where} tier {i}") for i, t in enumerate(raw.get("pricingTiers") or []))
    if tiers and sum(t.is_default for t in tiers) != 1:
        raise ModelTableError(f"{where}: needs exactly one default tier")
    if len({t.priority for t in tiers}) != len(tiers) or len({t.name for t in tiers}) != len(tiers):
        raise ModelTableError(f"{where}: tier names and priorities must be unique")
    return ModelDefinition(
        id=raw["id"], project_id=None, model_name=raw["modelName"], match_pattern=raw["matchPattern"],
        tokenizer_id=raw.get("tokenizerId"), tokenizer_config=raw.get("tokenizerConfig"),
        updated_at=_timestamp(raw.get("updatedAt"), where), tiers=tiers,
    )


def parse_table(document: Any) -> list[ModelDefinition]:
    """Managed model definitions from our table, or from upstream's list (derived on the way)."""
    if isinstance(document, list):
        document = derive_table(document)
    if not isinstance(document, Mapping) or document.get("format") != FORMAT:
        raise ModelTableError(f"not a model table: expected {{'format': {FORMAT}, 'models': [...]}} or a list")
    models = [_model(raw, i) for i, raw in enumerate(document.get("models") or [])]
    ids = [m.id for m in models]
    if len(set(ids)) != len(ids):
        raise ModelTableError("model ids are not unique")
    return models
