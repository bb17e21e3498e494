"""Postgres side of project deletion: the project's key hashes, then keys gone and deleted_at set."""

from __future__ import annotations

from typing import Any

from psycopg_pool import AsyncConnectionPool


async def project_exists(pool: AsyncConnectionPool[Any], project_id: str) -> tuple[bool, bool]:
    """(exists, already soft-deleted)."""
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT deleted_at IS NOT NULL FROM projects WHERE id = %s", (project_id,))
        row = await cur.fetchone()
    return (False, False) if row is None else (True, bool(row[0]))


async def key_hashes(pool: AsyncConnectionPool[Any], project_id: str) -> list[str]:
    """The fast hashes of the project's API keys (the Redis cache is keyed on them)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT fast_hashed_secret_key FROM api_keys WHERE project_id = %s AND fast_hashed_secret_key IS NOT NULL",
            (project_id,),
        )
        return [str(r[0]) for r in await cur.fetchall()]


async def revoke_keys_and_mark_deleted(pool: AsyncConnectionPool[Any], project_id: str) -> int:
    """In one transaction: delete the project's API keys and set projects.deleted_at (kept if set).
    Returns the number of keys deleted."""
    async with pool.connection() as conn, conn.transaction():
        cur = await conn.execute("DELETE FROM api_keys WHERE project_id = %s", (project_id,))
        deleted = int(cur.rowcount)
        await conn.execute(
            "UPDATE projects SET deleted_at = now() AT TIME ZONE 'UTC', updated_at = now() AT TIME ZONE 'UTC' "
            "WHERE id = %s AND deleted_at IS NULL",
            (project_id,),
        )
    return max(0, deleted)
