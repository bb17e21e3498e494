"""Model definitions from Postgres `models`, `pricing_tiers` and `prices`, and the worker's cached lookup.

`ModelCatalog.candidates(project_id, model_name)` returns every definition of the project or Langfuse-
managed (project_id NULL) whose `match_pattern` matches `model_name`, matched inside Postgres with
`~` as Langfuse does (POSIX ARE; shipped patterns carry `(?i)` and `^…$`), with their tiers and
prices. The choice by start date and scope is pure (`domain.pricing.choose_model`), so one cached
entry per (project, model string) serves observations of any start time. Entries expire after
`ttl_seconds` (other processes' changes arrive within that) and are dropped at once by `invalidate`,
which the models API calls in this process. A pattern Postgres refuses makes the lookup log and
return nothing rather than fail the job.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg
import structlog
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from langfuse_aio.domain.pricing import (
    DEFAULT_TIER_NAME,
    ModelDefinition,
    PricingTier,
    default_tier_id,
    parse_condition,
)

log = structlog.get_logger(__name__)

Row = dict[str, Any]
MODEL_COLUMNS = (
    "id, project_id, model_name, match_pattern, start_date, unit, tokenizer_id, tokenizer_config, "
    "created_at, updated_at"
)
_CANDIDATES = (
    f"SELECT {MODEL_COLUMNS} FROM models "
    "WHERE (project_id = %s OR project_id IS NULL) AND %s ~ match_pattern"
)
_TIERS = "SELECT id, model_id, name, is_default, priority, conditions FROM pricing_tiers WHERE model_id = ANY(%s)"
_PRICES = "SELECT model_id, pricing_tier_id, usage_type, price FROM prices WHERE model_id = ANY(%s)"


def utc(value: datetime | None) -> datetime | None:
    """Prisma's timestamp(3) columns hold naive UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _tiers(model_id: str, tier_rows: Sequence[Row], prices: dict[str | None, dict[str, Decimal]]) -> list[PricingTier]:
    tiers: list[PricingTier] = []
    for row in tier_rows:
        try:
            conditions = tuple(parse_condition(c) for c in row["conditions"] or [])
        except ValueError:
            continue  # a condition no writer of ours produces: the tier can never be chosen
        tiers.append(PricingTier(row["id"], row["name"], bool(row["is_default"]), int(row["priority"]),
                                 conditions, prices.get(row["id"], {})))
    legacy = prices.get(None)
    if legacy and not any(t.is_default for t in tiers):  # flat prices of Langfuse v2/v3.0
        tiers.append(PricingTier(default_tier_id(model_id), DEFAULT_TIER_NAME, True, 0, (), legacy))
    return sorted(tiers, key=lambda t: t.priority)


def assemble(model_rows: Iterable[Row], tier_rows: Iterable[Row], price_rows: Iterable[Row]) -> list[ModelDefinition]:
    """Rows of the three tables → definitions (in the order of `model_rows`)."""
    tiers_by_model: dict[str, list[Row]] = {}
    for row in tier_rows:
        tiers_by_model.setdefault(row["model_id"], []).append(row)
    prices: dict[str, dict[str | None, dict[str, Decimal]]] = {}
    for row in price_rows:
        prices.setdefault(row["model_id"], {}).setdefault(row["pricing_tier_id"], {})[row["usage_type"]] = row["price"]
    return [
        ModelDefinition(
            id=row["id"], project_id=row["project_id"], model_name=row["model_name"],
            match_pattern=row["match_pattern"], start_date=utc(row["start_date"]), unit=row["unit"],
            tokenizer_id=row["tokenizer_id"], tokenizer_config=row["tokenizer_config"],
            created_at=utc(row["created_at"]), updated_at=utc(row["updated_at"]),
            tiers=tuple(_tiers(row["id"], tiers_by_model.get(row["id"], []), prices.get(row["id"], {}))),
        )
        for row in model_rows
    ]


async def load_definitions(conn: AsyncConnection[Any], model_rows: list[Row]) -> list[ModelDefinition]:
    """Complete `models` rows (selected with MODEL_COLUMNS) with their tiers and prices."""
    if not model_rows:
        return []
    ids = [row["id"] for row in model_rows]
    tiers = await (await conn.cursor(row_factory=dict_row).execute(_TIERS, (ids,))).fetchall()
    prices = await (await conn.cursor(row_factory=dict_row).execute(_PRICES, (ids,))).fetchall()
    return assemble(model_rows, tiers, prices)


async def fetch_candidates(conn: AsyncConnection[Any], project_id: str, model_name: str) -> list[ModelDefinition]:
    try:
        cur = await conn.cursor(row_factory=dict_row).execute(_CANDIDATES, (project_id, model_name))
    except psycopg.errors.InvalidRegularExpression as exc:
        log.error("model_match_pattern_invalid", project_id=project_id, model=model_name, error=str(exc))
        return []
    return await load_definitions(conn, await cur.fetchall())


class ModelCatalog:
    """The worker's model lookup with a small LRU cache with a TTL (see module doc)."""

    def __init__(self, pool: AsyncConnectionPool[Any], *, ttl_seconds: float = 30.0, max_entries: int = 4096,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._pool = pool
        self._ttl = ttl_seconds
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str], tuple[float, tuple[ModelDefinition, ...]]] = OrderedDict()

    async def candidates(self, project_id: str, model_name: str) -> tuple[ModelDefinition, ...]:
        key = (project_id, model_name)
        now = self._clock()
        hit = self._entries.get(key)
        if hit is not None and hit[0] > now:
            self._entries.move_to_end(key)
            return hit[1]
        async with self._pool.connection() as conn:
            found = tuple(await fetch_candidates(conn, project_id, model_name))
        self._entries[key] = (now + self._ttl, found)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
        return found

    def invalidate(self, project_id: str | None = None) -> None:
        """Forget one project's entries, or (None: managed models changed) every entry."""
        if project_id is None:
            self._entries.clear()
            return
        for key in [k for k in self._entries if k[0] == project_id]:
            del self._entries[key]
