"""Langfuse's Postgres `score_configs` table: create, read one, update one, page through, look up many.

Rows come back as dicts keyed by column (`categories` decoded from JSONB; timestamps naive UTC, as
Prisma writes them). Every query is scoped by project_id.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from langfuse_aio.domain.score_config_rules import NewScoreConfig

Row = dict[str, Any]

_COLUMNS = (
    "id, created_at, updated_at, project_id, name, data_type::text AS data_type, is_archived, min_value, "
    "max_value, categories, description"
)
_INSERT = (
    "INSERT INTO score_configs (id, created_at, updated_at, project_id, name, data_type, is_archived, "
    "min_value, max_value, categories, description) "
    'VALUES (%s, %s, %s, %s, %s, %s::"ScoreDataType", false, %s, %s, %s, %s) '
    f"RETURNING {_COLUMNS}"
)
_GET = f"SELECT {_COLUMNS} FROM score_configs WHERE project_id = %s AND id = %s"
_GET_FOR_UPDATE = f"{_GET} FOR UPDATE"
_UPDATE = (
    "UPDATE score_configs SET updated_at = %s, name = %s, is_archived = %s, min_value = %s, max_value = %s, "
    f"categories = %s, description = %s WHERE project_id = %s AND id = %s RETURNING {_COLUMNS}"
)
_MANY = f"SELECT {_COLUMNS} FROM score_configs WHERE project_id = %s AND id = ANY(%s)"
_PAGE = (
    f"SELECT {_COLUMNS} FROM score_configs WHERE project_id = %s "
    "ORDER BY created_at DESC, id ASC LIMIT %s OFFSET %s"
)
_COUNT = "SELECT count(*) AS n FROM score_configs WHERE project_id = %s"


def _now() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond - now.microsecond % 1000, tzinfo=None)


async def insert_config(pool: AsyncConnectionPool[Any], project_id: str, config: NewScoreConfig) -> Row:
    now = _now()
    categories = None if config.categories is None else Jsonb(list(config.categories))
    params = (str(uuid.uuid4()), now, now, project_id, config.name, config.data_type, config.min_value,
              config.max_value, categories, config.description)
    async with pool.connection() as conn:
        cur = await conn.cursor(row_factory=dict_row).execute(_INSERT, params)
        row: Row | None = await cur.fetchone()
    assert row is not None
    return row


async def get_config(pool: AsyncConnectionPool[Any], project_id: str, config_id: str) -> Row | None:
    async with pool.connection() as conn:
        cur = await conn.cursor(row_factory=dict_row).execute(_GET, (project_id, config_id))
        row: Row | None = await cur.fetchone()
    return row


async def update_config(
    pool: AsyncConnectionPool[Any], project_id: str, config_id: str, change: Callable[[Row], Row]
) -> Row | None:
    """Apply `change` (stored row → row to store) to the project's config under a row lock, and return
    the stored result; None when the project has no such config. An exception from `change` rolls back."""
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.cursor(row_factory=dict_row).execute(_GET_FOR_UPDATE, (project_id, config_id))
        current: Row | None = await cur.fetchone()
        if current is None:
            return None
        new = change(current)
        categories = None if new.get("categories") is None else Jsonb(list(new["categories"]))
        params = (_now(), new["name"], bool(new["is_archived"]), new.get("min_value"), new.get("max_value"),
                  categories, new.get("description"), project_id, config_id)
        cur = await conn.cursor(row_factory=dict_row).execute(_UPDATE, params)
        row: Row | None = await cur.fetchone()
    return row


async def fetch_configs(pool: AsyncConnectionPool[Any], project_id: str, ids: Sequence[str]) -> list[Row]:
    """The project's configs among `ids` (missing ids are simply absent)."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return []
    async with pool.connection() as conn:
        cur = await conn.cursor(row_factory=dict_row).execute(_MANY, (project_id, wanted))
        rows: list[Row] = await cur.fetchall()
    return rows


async def page_configs(
    pool: AsyncConnectionPool[Any], project_id: str, *, limit: int, offset: int
) -> tuple[list[Row], int]:
    """One page of the project's configs, newest first, and the project's total."""
    async with pool.connection() as conn:
        cur = await conn.cursor(row_factory=dict_row).execute(_PAGE, (project_id, limit, offset))
        rows = await cur.fetchall()
        count = await conn.cursor(row_factory=dict_row).execute(_COUNT, (project_id,))
        total = await count.fetchone()
    return rows, int(total["n"]) if total else 0
