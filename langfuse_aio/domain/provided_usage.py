"""User-provided usage and cost of an observation (ingestion spec §3.4 mapping, §3.5 Case 1); pure.

Per event: `usage` (already in `{input, output, total, inputCost, outputCost, totalCost}` form) gives
`provided_usage_details` / `provided_cost_details`; `usageDetails` / `costDetails` (v3.2.0+) are merged
over the usage-derived keys and win. After the merge: negative counts are dropped, `usage_details` gets
`total` = the sum of the provided keys when none was given (HEAD), and provided costs give
`cost_details` and `total_cost` (Case 1). Model prices (Case 2) and tokenization run later.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

from langfuse_aio.domain.unprocessable import UnprocessableEntity

UINT64_MAX: Final = 2**64 - 1
COST_QUANTUM: Final = Decimal("1e-12")  # Decimal64(12)
_COST_LIMIT: Final = Decimal(10) ** 6  # Decimal64(12) holds 18 digits: 6 before the point
_ZERO: Final = Decimal(0).quantize(COST_QUANTUM)


def _count(value: Any, what: str) -> int:
    if type(value) is float and value.is_integer():
        value = int(value)
    if type(value) is not int:
        raise UnprocessableEntity(f"{what} is not an integer: {value!r}")
    if value > UINT64_MAX:
        raise UnprocessableEntity(f"{what} does not fit UInt64: {value}")
    return value


def to_cost(value: Any, what: str) -> Decimal:
    """A cost as ClickHouse's Decimal64(12) holds it (the float's shortest decimal, 12 places)."""
    if isinstance(value, Decimal):
        amount = value
    elif type(value) is int:
        amount = Decimal(value)
    elif type(value) is float and math.isfinite(value):
        amount = Decimal(repr(value))
    else:
        raise UnprocessableEntity(f"{what} is not a number: {value!r}")
    if abs(amount) >= _COST_LIMIT:
        raise UnprocessableEntity(f"{what} does not fit Decimal64(12): {value}")
    return amount.quantize(COST_QUANTUM)


def _mapping(body: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = body.get(key)
    if value is None or isinstance(value, Mapping):
        return value
    raise UnprocessableEntity(f"body.{key} is not an object")


def provided_usage_details(body: Mapping[str, Any]) -> dict[str, int]:
    """One event's `provided_usage_details`; negative counts are kept here and dropped after the merge.

    `total` = `usage.total` when truthy; else, when no `usageDetails` came along, `input + output` if
    both are truthy, otherwise `input ?? output` (so input 0 with output 5 gives total 0).
    """
    usage = _mapping(body, "usage")
    details = _mapping(body, "usageDetails")
    result: dict[str, int] = {}
    if usage:
        raw_in, raw_out, raw_total = usage.get("input"), usage.get("output"), usage.get("total")
        count_in = None if raw_in is None else _count(raw_in, "usage.input")
        count_out = None if raw_out is None else _count(raw_out, "usage.output")
        total = None if raw_total is None else _count(raw_total, "usage.total")
        if not total:
            if details:
                total = None
            elif count_in and count_out:
                total = count_in + count_out
            else:
                total = count_in if count_in is not None else count_out
        for key, count in (("input", count_in), ("output", count_out), ("total", total)):
            if count is not None:
                result[key] = count
    if details:
        for key, value in details.items():
            if value is not None:
                result[str(key)] = _count(value, f"usageDetails.{key}")
    return result


def provided_cost_details(body: Mapping[str, Any]) -> dict[str, Decimal]:
    """One event's `provided_cost_details`: usage's input/output/totalCost, then `costDetails` over them."""
    usage = _mapping(body, "usage")
    details = _mapping(body, "costDetails")
    result: dict[str, Decimal] = {}
    if usage:
        for source, key in (("inputCost", "input"), ("outputCost", "output"), ("totalCost", "total")):
            value = usage.get(source)
            if value is not None:
                result[key] = to_cost(value, f"usage.{source}")
    if details:
        for key, value in details.items():
            if value is not None:
                result[str(key)] = to_cost(value, f"costDetails.{key}")
    return result


def usage_details(provided: Mapping[str, int]) -> tuple[dict[str, int], dict[str, int]]:
    """(provided_usage_details without negative counts, usage_details with a summed total if missing)."""
    kept = {key: count for key, count in provided.items() if count is not None and count >= 0}
    derived = dict(kept)
    if derived and "total" not in derived:
        derived["total"] = min(sum(derived.values()), UINT64_MAX)
    return kept, derived


def provided_costs(provided: Mapping[str, Decimal]) -> tuple[dict[str, Decimal], Decimal | None]:
    """§3.5 Case 1 (`cost_details`, `total_cost`); `({}, None)` when no cost was provided.

    The total is the provided `total`; else `input + output` (a missing one counting 0) when those are
    the only keys; else there is none. `{input:1, output:2}` → 3, `{total:2}` → 2, `{output:2}` → 2,
    `{input:1, total:1}` → 1.
    """
    if not provided:
        return {}, None
    details = dict(provided)
    total: Decimal | None
    if "total" in provided:
        total = provided["total"]
    elif provided.keys() <= {"input", "output"}:
        total = provided.get("input", _ZERO) + provided.get("output", _ZERO)
    else:
        total = None
    if total is not None:
        details.setdefault("total", total)
    return details, total
