"""Model definitions, pricing tiers and cost calculation (v2-migration spec §5, ingestion spec §3.5); pure.

- Model choice (`choose_model`): among the models whose `match_pattern` matched the generation's model
  string (Postgres does the regex), those whose `start_date` is unset or not after the observation's
  start; project models beat Langfuse-managed ones (project_id NULL), then the latest start date
  (unset last), then the most recently updated definition (so our refreshed default table wins over a
  stale global row of the same name left by an older Langfuse).
- Tier choice (`match_tier`, current Langfuse): conditional tiers in ascending priority, the first whose
  conditions all hold; otherwise the default tier. A usage condition sums the usage entries whose key
  matches its regex (searched anywhere in the key, case-insensitive unless `caseSensitive`) and
  compares the sum; an attribute condition holds when the observation's top-level model parameter or
  metadata value under `key` is one of `values` (strings compare exactly; a missing key fails).
- Costs (`calculate_costs`, §3.5 Case 2): price * units for every usage key priced by the tier;
  `total_cost` is the computed `total` entry when the tier prices `total` (price * total units, not
  the sum of the parts), else the sum of the computed entries, also written as `cost_details.total`.
  Provided costs (Case 1) are handled by `provided_usage.provided_costs` before this runs.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

OPERATORS: Final = frozenset({"gt", "gte", "lt", "lte", "eq", "neq"})
ATTRIBUTE_SOURCES: Final = frozenset({"model_parameters", "metadata"})
UNITS: Final = ("CHARACTERS", "TOKENS", "MILLISECONDS", "SECONDS", "IMAGES", "REQUESTS")
TOKENIZER_IDS: Final = ("openai", "claude")
DEFAULT_TIER_NAME: Final = "Standard"


def default_tier_id(model_id: str) -> str:
    """Langfuse's deterministic id of a model's default tier."""
    return f"{model_id}_tier_default"


@dataclass(frozen=True, slots=True)
class UsageCondition:
    pattern: str
    operator: str
    value: float
    case_sensitive: bool = False


@dataclass(frozen=True, slots=True)
class AttributeCondition:
    source: str  # "model_parameters" | "metadata"
    key: str
    values: tuple[str, ...]


Condition = UsageCondition | AttributeCondition


@dataclass(frozen=True, slots=True)
class PricingTier:
    id: str
    name: str
    is_default: bool
    priority: int
    conditions: tuple[Condition, ...]
    prices: Mapping[str, Decimal]


@dataclass(frozen=True, slots=True)
class ModelDefinition:
    id: str
    project_id: str | None
    model_name: str
    match_pattern: str
    start_date: datetime | None = None  # UTC
    unit: str | None = None
    tokenizer_id: str | None = None
    tokenizer_config: Any = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    tiers: tuple[PricingTier, ...] = field(default_factory=tuple)

    @property
    def default_tier(self) -> PricingTier | None:
        return next((tier for tier in self.tiers if tier.is_default), None)


# --- conditions -------------------------------------------------------------------------------


@functools.lru_cache(maxsize=512)
def compile_usage_pattern(pattern: str, case_sensitive: bool) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern, 0 if case_sensitive else re.IGNORECASE)
    except re.error:
        return None


def parse_condition(raw: Any) -> Condition:
    """A condition in Langfuse's JSON shape; ValueError says what is wrong."""
    if not isinstance(raw, Mapping):
        raise ValueError("a condition must be an object")
    if "source" in raw:
        source, key, values = raw.get("source"), raw.get("key"), raw.get("values")
        if source not in ATTRIBUTE_SOURCES:
            raise ValueError(f"source must be one of {sorted(ATTRIBUTE_SOURCES)}")
        if not isinstance(key, str) or not key:
            raise ValueError("key must be a non-empty string")
        if raw.get("operator") != "in":
            raise ValueError("operator of an attribute condition must be 'in'")
        if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
            raise ValueError("values must be a non-empty list of strings")
        return AttributeCondition(str(source), key, tuple(values))
    pattern, operator, value = raw.get("usageDetailPattern"), raw.get("operator"), raw.get("value")
    if not isinstance(pattern, str) or not pattern:
        raise ValueError("usageDetailPattern must be a non-empty string")
    case_sensitive = raw.get("caseSensitive", False)
    if not isinstance(case_sensitive, bool):
        raise ValueError("caseSensitive must be a boolean")
    if compile_usage_pattern(pattern, case_sensitive) is None:
        raise ValueError(f"usageDetailPattern is not a valid regex: {pattern!r}")
    if operator not in OPERATORS:
        raise ValueError(f"operator must be one of {sorted(OPERATORS)}")
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ValueError("value must be a number")
    return UsageCondition(pattern, str(operator), float(value), case_sensitive)


def condition_to_json(condition: Condition) -> dict[str, Any]:
    if isinstance(condition, AttributeCondition):
        return {"source": condition.source, "key": condition.key, "operator": "in", "values": list(condition.values)}
    value: float | int = int(condition.value) if condition.value.is_integer() else condition.value
    return {"usageDetailPattern": condition.pattern, "operator": condition.operator, "value": value,
            "caseSensitive": condition.case_sensitive}


def _compare(total: float, operator: str, threshold: float) -> bool:
    return {
        "gt": total > threshold, "gte": total >= threshold, "lt": total < threshold,
        "lte": total <= threshold, "eq": total == threshold, "neq": total != threshold,
    }.get(operator, False)


def _holds(condition: Condition, usage: Mapping[str, int], attributes: Mapping[str, Mapping[str, Any]]) -> bool:
    if isinstance(condition, AttributeCondition):
        values = attributes.get(condition.source) or {}
        return condition.key in values and values[condition.key] in condition.values
    regex = compile_usage_pattern(condition.pattern, condition.case_sensitive)
    if regex is None:
        return False
    total = sum(count for key, count in usage.items() if regex.search(key))
    return _compare(total, condition.operator, condition.value)


def match_tier(
    tiers: Sequence[PricingTier],
    usage: Mapping[str, int],
    *,
    model_parameters: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> PricingTier | None:
    """The first conditional tier (by priority) whose conditions all hold, else the default tier."""
    attributes = {"model_parameters": model_parameters or {}, "metadata": metadata or {}}
    for tier in sorted((t for t in tiers if not t.is_default), key=lambda t: t.priority):
        if tier.conditions and all(_holds(c, usage, attributes) for c in tier.conditions):
            return tier
    return next((t for t in tiers if t.is_default), None)


# --- model choice and costs -------------------------------------------------------------------


def choose_model(candidates: Iterable[ModelDefinition], start_time: datetime | None) -> ModelDefinition | None:
    """The definition that applies to an observation starting at `start_time` (see module doc)."""
    eligible = [m for m in candidates
                if m.start_date is None or start_time is None or m.start_date <= start_time]
    if not eligible:
        return None

    def rank(model: ModelDefinition) -> tuple[bool, float, float, str]:
        start = model.start_date.timestamp() if model.start_date is not None else float("-inf")
        updated = model.updated_at.timestamp() if model.updated_at is not None else float("-inf")
        return (model.project_id is not None, start, updated, model.id)

    return max(eligible, key=rank)


def calculate_costs(
    usage: Mapping[str, int], prices: Mapping[str, Decimal]
) -> tuple[dict[str, Decimal], Decimal | None]:
    """(cost_details, total_cost) from usage units and per-unit prices; ({}, None) when nothing is priced."""
    costs = {key: prices[key] * count for key, count in usage.items() if key in prices and count is not None}
    if not costs:
        return {}, None
    if "total" in costs:
        return costs, costs["total"]
    total = sum(costs.values(), Decimal(0))
    costs["total"] = total
    return costs, total
