"""Langfuse's Postgres `trace_sessions` table (upserted by the worker): a page of sessions, one session.

`created_at` is `TIMESTAMP(3)` without a zone holding UTC, as Prisma writes it; rows come back with
it made UTC-aware, and bounds go in as naive UTC. Every query is scoped by project_id. The table
has no environment column (Langfuse added one later), so an environment filter cannot apply here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

Row = dict[str, Any]

_COLUMNS = "id, created_at, project_id"
_GET = f"SELECT {_COLUMNS} FROM trace_sessions WHERE project_id = %(project_id)s AND id = %(id)s"
_WHERE = (
    "WHERE project_id = %(project_id)s"
    " AND (%(from)s::timestamp IS NULL OR created_at >= %(from)s::timestamp)"
    " AND (%(to)s::timestamp IS NULL OR created_at < %(to)s::timestamp)"
)
_PAGE = (
    f"SELECT {_COLUMNS} FROM trace_sessions {_WHERE}"
    " ORDER BY created_at DESC, id ASC LIMIT %(limit)s OFFSET %(offset)s"
)
_COUNT = f"SELECT count(*) AS n FROM trace_sessions {_WHERE}"


def _naive_utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC).replace(tzinfo=None)


def _aware(row: Row) -> Row:
    created: datetime = row["created_at"]
    return {**row, "created_at": created.replace(tzinfo=UTC) if created.tzinfo is None else created}


async def list_sessions(
    pool: AsyncConnectionPool[Any],
    project_id: str,
    *,
    from_timestamp: datetime | None,
    to_timestamp: datetime | None,
    limit: int,
    offset: int,
) -> tuple[list[Row], int]:
    """One page of the project's sessions, newest first, and how many match in all."""
    params = {"project_id": project_id, "from": _naive_utc(from_timestamp), "to": _naive_utc(to_timestamp),
              "limit": limit, "offset": offset}
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_PAGE, params)
        rows = await cur.fetchall()
        await cur.execute(_COUNT, params)
        counted = await cur.fetchone()
    return [_aware(r) for r in rows], int(counted["n"]) if counted else 0


async def get_session(pool: AsyncConnectionPool[Any], project_id: str, session_id: str) -> Row | None:
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_GET, {"project_id": project_id, "id": session_id})
        row = await cur.fetchone()
    return None if row is None else _aware(row)
