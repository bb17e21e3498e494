"""A migration's progress, kept in the `state` jsonb column of its row (`background_migrations`, or
our own `langfuse_aio_background_migrations`).

`save` merges at the database (`state || updates`), so keys a migration does not name survive and
two writers never lose each other's keys to a read-modify-write race.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from langfuse_aio.migrations.background.admin import LANGFUSE_TABLE, checked_table
from langfuse_aio.migrations.background.contract import State


class MigrationRowMissingError(LookupError):
    """The `background_migrations` row was deleted while its migration was using it."""


class PostgresStateStore:
    """The StateStore (contract.py) of one row of `table`, by its id."""

    def __init__(self, pg: AsyncConnectionPool[Any], migration_id: str, table: str = LANGFUSE_TABLE) -> None:
        self._pg = pg
        self.migration_id = migration_id
        self._table = checked_table(table)

    async def load(self) -> State:
        async with self._pg.connection() as conn:
            cur = await conn.execute(f"SELECT state FROM {self._table} WHERE id = %s", (self.migration_id,))
            row = await cur.fetchone()
        if row is None:
            raise MigrationRowMissingError(f"no {self._table} row with id {self.migration_id!r}")
        state = row[0]
        return dict(state) if isinstance(state, dict) else {}

    async def save(self, updates: Mapping[str, Any]) -> None:
        async with self._pg.connection() as conn:
            cur = await conn.execute(
                f"UPDATE {self._table} SET state = state || %s::jsonb WHERE id = %s",
                (Jsonb(dict(updates)), self.migration_id),
            )
        if cur.rowcount == 0:
            raise MigrationRowMissingError(f"no {self._table} row with id {self.migration_id!r}")
