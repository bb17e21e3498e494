"""The operator's view of `background_migrations` (Langfuse's rows) and of
`langfuse_aio_background_migrations` (our own jobs, such as the read-index backfill, kept apart so
Langfuse never meets a script it does not know): list the rows, re-arm one (Langfuse's retry).

Retry does what Langfuse's admin page does: state = {}, failed_at, failed_reason and finished_at
NULL, worker_id and locked_at untouched. Because the state is wiped, a copy migration starts over
(from "now", as Langfuse's does). A running worker picks the row up at its next cron check.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from langfuse_aio.migrations.background.status import MigrationRow

COLUMNS = "id, name, script, args, finished_at, failed_at, failed_reason, worker_id, locked_at, state"
LANGFUSE_TABLE = "background_migrations"  # Langfuse's rows (the v2 upgrade)
OWN_TABLE = "langfuse_aio_background_migrations"  # ours, same columns and protocol; Langfuse never reads it
TABLES = (LANGFUSE_TABLE, OWN_TABLE)


def checked_table(table: str) -> str:
    """`table` if it is one of `TABLES` (names go into SQL text: only these two ever do)."""
    if table not in TABLES:
        raise ValueError(f"not a background migrations table: {table!r}")
    return table


class UnknownMigrationError(LookupError):
    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = known
        super().__init__(f"no background migration named {name!r}; known: {', '.join(known) or 'none'}")


async def list_migrations(
    pg: AsyncConnectionPool[Any], table: str = LANGFUSE_TABLE
) -> tuple[list[MigrationRow], datetime]:
    """Every row of `table` by name, and the database's current time (naive UTC, the clock of locked_at)."""
    async with pg.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(f"SELECT {COLUMNS} FROM {checked_table(table)} ORDER BY name")
        rows = [MigrationRow(**r) for r in await cur.fetchall()]
        now_cur = await conn.execute("SELECT now() AT TIME ZONE 'UTC'")
        now_row = await now_cur.fetchone()
    if now_row is None:
        raise RuntimeError("SELECT now() returned no row")
    return rows, now_row[0]


async def retry_migration(pg: AsyncConnectionPool[Any], name: str, tables: tuple[str, ...] = TABLES) -> MigrationRow:
    """Re-arm the row named `name` (in the first of `tables` holding it); returns it as it was
    before. UnknownMigrationError if absent."""
    async with pg.connection() as conn, conn.transaction():
        cur = conn.cursor(row_factory=dict_row)
        known: list[str] = []
        for table in map(checked_table, tables):
            await cur.execute(f"SELECT {COLUMNS} FROM {table} WHERE name = %s FOR UPDATE", (name,))
            before = await cur.fetchone()
            if before is not None:
                await cur.execute(
                    f"UPDATE {table} SET state = '{{}}'::jsonb, failed_at = NULL, failed_reason = NULL, "
                    "finished_at = NULL WHERE name = %s",
                    (name,),
                )
                return MigrationRow(**before)
            await cur.execute(f"SELECT name FROM {table} ORDER BY name")
            known += [r["name"] for r in await cur.fetchall()]
    raise UnknownMigrationError(name, known)
