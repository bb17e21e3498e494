"""Model prices from Postgres `prices` (one row per model and usage type), for the read API."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

# The default pricing tier's prices (pricing tiers, migration 0008); rows without a tier (Langfuse
# v2/v3.0 flat prices) come first so that a default tier's price of the same usage type wins.
_PRICES_SQL = (
    "SELECT p.model_id, p.usage_type, p.price FROM prices p "
    "LEFT JOIN pricing_tiers t ON t.id = p.pricing_tier_id "
    "WHERE p.model_id = ANY(%s) AND (p.pricing_tier_id IS NULL OR t.is_default) "
    "ORDER BY (p.pricing_tier_id IS NULL) DESC"
)

ModelPrices = dict[str, dict[str, Decimal]]  # model id → usage type ("input", "output", "total", …) → price


async def _fetch(conn: AsyncConnection[Any], model_ids: list[str]) -> ModelPrices:
    found: ModelPrices = {}
    cursor = await conn.execute(_PRICES_SQL, (model_ids,))
    for model_id, usage_type, price in await cursor.fetchall():
        found.setdefault(str(model_id), {})[str(usage_type)] = price
    return found


async def prices_for_models(
    pg: AsyncConnection[Any] | AsyncConnectionPool[Any], model_ids: Iterable[str | None]
) -> ModelPrices:
    """The prices of each of `model_ids` that has any; empty or None ids are skipped, and without
    any id Postgres is not asked. Takes a connection or the pool (then borrows one connection)."""
    wanted = sorted({model_id for model_id in model_ids if model_id})
    if not wanted:
        return {}
    if isinstance(pg, AsyncConnectionPool):
        async with pg.connection() as conn:
            return await _fetch(conn, wanted)
    return await _fetch(pg, wanted)
