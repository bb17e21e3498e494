"""Writing and listing model definitions: the models API and the managed default table.

Project models: created with their tiers and prices in one transaction (ids are uuids, the default
tier's is Langfuse's `<model id>_tier_default`), listed together with the managed ones, deleted only
within their project. Managed models (project_id NULL) come from our default table:
`upsert_managed_models` rewrites a model, its tiers and prices only when the stored definition
differs from the table's (so a start with nothing new writes nothing); managed models missing from
the table are left as they are.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from langfuse_aio.domain.model_api import InvalidModelError, NewModel, NewTier
from langfuse_aio.domain.pricing import ModelDefinition, condition_to_json, default_tier_id
from langfuse_aio.storage.postgres.models import MODEL_COLUMNS, load_definitions

_SCOPE = "(project_id = %s OR project_id IS NULL)"
_PAGE = (
    f"SELECT {MODEL_COLUMNS} FROM models WHERE {_SCOPE} "
    "ORDER BY model_name ASC, unit ASC NULLS LAST, start_date DESC NULLS LAST, id ASC LIMIT %s OFFSET %s"
)
_COUNT = f"SELECT count(*) AS n FROM models WHERE {_SCOPE}"
_GET = f"SELECT {MODEL_COLUMNS} FROM models WHERE {_SCOPE} AND id = %s"
_DELETE = "DELETE FROM models WHERE project_id = %s AND id = %s"
_INSERT_MODEL = (
    "INSERT INTO models (id, project_id, model_name, match_pattern, start_date, unit, input_price, "
    "output_price, total_price, tokenizer_id, tokenizer_config, created_at, updated_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now(), now())"
)
_INSERT_TIER = (
    "INSERT INTO pricing_tiers (id, model_id, name, is_default, priority, conditions, created_at, updated_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, now(), now())"
)
_INSERT_PRICE = (
    "INSERT INTO prices (id, model_id, pricing_tier_id, usage_type, price, created_at, updated_at) "
    "VALUES (%s, %s, %s, %s, %s, now(), now())"
)
_UPSERT_MANAGED = (
    "INSERT INTO models (id, project_id, model_name, match_pattern, tokenizer_id, tokenizer_config, "
    "created_at, updated_at) VALUES (%s, NULL, %s, %s, %s, %s, now(), %s) "
    "ON CONFLICT (id) DO UPDATE SET model_name = EXCLUDED.model_name, match_pattern = EXCLUDED.match_pattern, "
    "tokenizer_id = EXCLUDED.tokenizer_id, tokenizer_config = EXCLUDED.tokenizer_config, "
    "updated_at = EXCLUDED.updated_at"
)
_MANAGED = f"SELECT {MODEL_COLUMNS} FROM models WHERE project_id IS NULL AND id = ANY(%s)"
_UPSERT_LOCK_KEY = 0x6C66_6169_6F6D_6F64  # "lfaiomod": serialises concurrent default-table upserts


async def page_models(pool: AsyncConnectionPool[Any], project_id: str, *, limit: int,
                      offset: int) -> tuple[list[ModelDefinition], int]:
    async with pool.connection() as conn:
        rows = await (await conn.cursor(row_factory=dict_row).execute(_PAGE, (project_id, limit, offset))).fetchall()
        total = await (await conn.cursor(row_factory=dict_row).execute(_COUNT, (project_id,))).fetchone()
        return await load_definitions(conn, rows), int(total["n"]) if total else 0


async def get_model(pool: AsyncConnectionPool[Any], project_id: str, model_id: str) -> ModelDefinition | None:
    async with pool.connection() as conn:
        rows = await (await conn.cursor(row_factory=dict_row).execute(_GET, (project_id, model_id))).fetchall()
        found = await load_definitions(conn, rows)
    return found[0] if found else None


async def delete_model(pool: AsyncConnectionPool[Any], project_id: str, model_id: str) -> bool:
    async with pool.connection() as conn:
        cur = await conn.execute(_DELETE, (project_id, model_id))
        return bool(cur.rowcount > 0)


async def _insert_tiers(conn: AsyncConnection[Any], model_id: str, tiers: Sequence[NewTier],
                        tier_id: Callable[[NewTier], str] | None = None) -> None:
    for tier in tiers:
        tid = default_tier_id(model_id) if tier.is_default else (tier_id(tier) if tier_id else str(uuid.uuid4()))
        await conn.execute(_INSERT_TIER, (tid, model_id, tier.name, tier.is_default, tier.priority,
                                          Jsonb([condition_to_json(c) for c in tier.conditions])))
        async with conn.cursor() as cur:
            await cur.executemany(_INSERT_PRICE, [(str(uuid.uuid4()), model_id, tid, usage, price)
                                                  for usage, price in tier.prices.items()])


async def create_model(pool: AsyncConnectionPool[Any], project_id: str, new: NewModel) -> ModelDefinition:
    """Insert a project model; InvalidModelError when Postgres refuses the pattern or the key is taken."""
    model_id = str(uuid.uuid4())
    legacy = new.legacy_prices
    config = None if new.tokenizer_config is None else Jsonb(new.tokenizer_config)
    start = None if new.start_date is None else new.start_date.replace(tzinfo=None)
    async with pool.connection() as conn:
        try:
            await conn.execute("SELECT 'langfuse-aio' ~ %s", (new.match_pattern,))
        except psycopg.errors.InvalidRegularExpression:
            raise InvalidModelError(("matchPattern",), "matchPattern is not a valid regex pattern (Postgres)") from None
        try:
            async with conn.transaction():
                await conn.execute(_INSERT_MODEL, (
                    model_id, project_id, new.model_name, new.match_pattern, start, new.unit, legacy.get("input"),
                    legacy.get("output"), legacy.get("total"), new.tokenizer_id, config))
                await _insert_tiers(conn, model_id, new.tiers)
        except psycopg.errors.UniqueViolation:
            raise InvalidModelError(("modelName",), "A model with this name, start date and unit already "
                                    "exists in this project") from None
        rows = await (await conn.cursor(row_factory=dict_row).execute(_GET, (project_id, model_id))).fetchall()
        return (await load_definitions(conn, rows))[0]


# --- the managed default table ------------------------------------------------------------------


def _tier_ids(ids: dict[tuple[int, str], str]) -> Callable[[NewTier], str]:
    def tier_id(tier: NewTier) -> str:
        return ids[(tier.priority, tier.name)]

    return tier_id


def _signature(model: ModelDefinition) -> tuple[Any, ...]:
    tiers = tuple(sorted(
        (t.id, t.name, t.is_default, t.priority, tuple(str(condition_to_json(c)) for c in t.conditions),
         tuple(sorted((k, Decimal(v).normalize()) for k, v in t.prices.items())))
        for t in model.tiers
    ))
    config = json.dumps(model.tokenizer_config, sort_keys=True)
    return (model.model_name, model.match_pattern, model.tokenizer_id, config, model.updated_at, tiers)


@dataclass(frozen=True)
class UpsertResult:
    written: int
    unchanged: int


def _newer_or_same(model: ModelDefinition, stored: ModelDefinition | None) -> bool:
    if stored is None or stored.updated_at is None or model.updated_at is None:
        return True
    return model.updated_at >= stored.updated_at


async def upsert_managed_models(pool: AsyncConnectionPool[Any], models: Sequence[ModelDefinition], *,
                                force: bool = False) -> UpsertResult:
    """Make the managed rows of `models` equal to the table's (idempotent; one transaction).

    A stored definition with a later `updated_at` (from a refresh with a newer file) is kept unless
    `force`, so the packaged table upserted at every start never undoes a refresh."""
    async with pool.connection() as conn, conn.transaction():
        # processes starting together (web and worker replicas) upsert one after the other
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_UPSERT_LOCK_KEY,))
        rows = await (await conn.cursor(row_factory=dict_row).execute(_MANAGED, ([m.id for m in models],))).fetchall()
        stored = {m.id: m for m in await load_definitions(conn, rows)}
        changed = [
            m for m in models
            if (m.id not in stored or _signature(stored[m.id]) != _signature(m))
            and (force or _newer_or_same(m, stored.get(m.id)))
        ]
        for model in changed:
            config = None if model.tokenizer_config is None else Jsonb(model.tokenizer_config)
            updated = None if model.updated_at is None else model.updated_at.replace(tzinfo=None)
            await conn.execute(_UPSERT_MANAGED, (model.id, model.model_name, model.match_pattern,
                                                 model.tokenizer_id, config, updated))
            await conn.execute("DELETE FROM pricing_tiers WHERE model_id = %s", (model.id,))
            await conn.execute("DELETE FROM prices WHERE model_id = %s", (model.id,))
            ids = {(t.priority, t.name): t.id for t in model.tiers}
            tiers = [NewTier(t.name, t.is_default, t.priority, t.conditions, dict(t.prices))
                     for t in model.tiers]
            await _insert_tiers(conn, model.id, tiers, tier_id=_tier_ids(ids))
    return UpsertResult(written=len(changed), unchanged=len(models) - len(changed))
