"""The worker's usage and cost step for merged observation rows (ingestion spec §3.5, v2-migration §5).

For each live observation row with a model string (`provided_model_name`):
1. model match: `ModelCatalog` candidates (Postgres regex, cached) → `choose_model` by the
   observation's start time; the id goes to `internal_model_id` (None when nothing matches, and for
   rows without a model string);
2. usage: the provided usage (already filtered by the merge). When none survived, the model has a
   tokenizer, no cost was provided and the level is not ERROR (the last two as Langfuse HEAD), the
   input and output are counted in the tokenizer pool: `input`, `output`, and `total` = their sum
   when either is non-zero;
3. cost: provided costs win (the merge already derived `cost_details`/`total_cost` from them);
   otherwise the pricing tier chosen by usage and attributes prices every usage key it knows.
The observations of one job are counted together (`TokenizerPool.count_many`: one call per pool
child, not one per observation). A tokenizer that cannot answer (timeout, crashes) leaves the usage
empty, logged; it never fails the job. A cost that does not fit ClickHouse's Decimal64(12) is dropped with a warning.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import structlog

from langfuse_aio.domain.api_views import parse_json_if_possible
from langfuse_aio.domain.pricing import ModelDefinition, calculate_costs, choose_model, match_tier
from langfuse_aio.domain.provided_usage import to_cost
from langfuse_aio.domain.unprocessable import UnprocessableEntity
from langfuse_aio.storage.postgres.models import ModelCatalog
from langfuse_aio.tokenization.pool import TokenCount, TokenizerPool

log = structlog.get_logger(__name__)

Row = dict[str, Any]


def _attributes(value: Any) -> Mapping[str, Any]:
    parsed = parse_json_if_possible(value) if isinstance(value, str) else value
    return parsed if isinstance(parsed, Mapping) else {}


class UsageCosts:
    def __init__(self, catalog: ModelCatalog, tokenizer: TokenizerPool) -> None:
        self._catalog = catalog
        self._tokenizer = tokenizer

    async def apply(self, project_id: str, rows: list[Row]) -> None:
        """Fill `internal_model_id`, `usage_details`, `cost_details` and `total_cost` in place."""
        live = [row for row in rows if not row.get("is_deleted")]
        names = sorted({str(name) for row in live if (name := row.get("provided_model_name"))})
        # one catalog lookup per distinct model string (most jobs name one or two), not a task per row
        candidates = dict(zip(names, await asyncio.gather(
            *(self._catalog.candidates(project_id, name) for name in names)), strict=True))
        matched: list[tuple[Row, ModelDefinition]] = []
        for row in live:
            name = row.get("provided_model_name")
            model = choose_model(candidates[str(name)], row.get("start_time")) if name else None
            row["internal_model_id"] = None if model is None else model.id
            if model is not None:
                matched.append((row, model))
        to_count = [(row, model) for row, model in matched if _needs_tokens(row, model)]
        if to_count:
            counts = await self._tokenizer.count_many(
                [(m.tokenizer_id, m.tokenizer_config, r.get("input"), r.get("output")) for r, m in to_count])
            for (row, model), counted in zip(to_count, counts, strict=True):
                row["usage_details"] = _usage(project_id, row, model, counted)
        for row, model in matched:
            if not row.get("provided_cost_details"):  # provided costs win (the merge applied them)
                _price(project_id, row, model)


def _needs_tokens(row: Row, model: ModelDefinition) -> bool:
    return (not row.get("usage_details") and bool(model.tokenizer_id) and not row.get("provided_cost_details")
            and row.get("level") != "ERROR")


def _usage(project_id: str, row: Row, model: ModelDefinition, counted: TokenCount | None) -> dict[str, int]:
    if counted is None:
        log.warning("tokenization_failed", project_id=project_id, observation_id=row.get("id"), model_id=model.id)
        return {}
    usage = {key: count for key, count in (("input", counted.input), ("output", counted.output)) if count is not None}
    if counted.input or counted.output:
        usage["total"] = (counted.input or 0) + (counted.output or 0)
    if counted.estimated:
        log.info("tokenization_estimated", project_id=project_id, observation_id=row.get("id"), model_id=model.id,
                 usage=usage)
    return usage


def _price(project_id: str, row: Row, model: ModelDefinition) -> None:
    usage: dict[str, int] = dict(row.get("usage_details") or {})
    tier = match_tier(model.tiers, usage, model_parameters=_attributes(row.get("model_parameters")),
                      metadata=_attributes(row.get("metadata")))
    if tier is None:
        return
    costs, total = calculate_costs(usage, tier.prices)
    try:
        row["cost_details"] = {key: to_cost(value, f"cost of {key}") for key, value in costs.items()}
        row["total_cost"] = None if total is None else to_cost(total, "total cost")
    except UnprocessableEntity as exc:
        log.warning("observation_cost_dropped", project_id=project_id, observation_id=row.get("id"),
                    model_id=model.id, reason=exc.reason)
        row["cost_details"], row["total_cost"] = {}, None
