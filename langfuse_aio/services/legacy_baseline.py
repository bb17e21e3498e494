"""The merge baseline for entities that exist only in Langfuse v2's Postgres tables (v2-migration §2.7).

After an upgrade, an SDK may update a trace, observation or score that the background copy has not
reached yet. Merging the update over nothing would write a row missing every v2 field, and the later
copy would lose to it (older event_ts), so the v2 fields would be gone for good. Instead, an entity
with no ClickHouse row is merged over its v2 row, converted as the copy converts it.

Only while a table's copy is unfinished: whether it is comes from `background_migrations`, asked at
most every `ttl_seconds`. A finished copy has put every v2 row in ClickHouse, where the worker finds
it as the current row anyway. (Upstream merges the Postgres row even over an existing ClickHouse row,
so a second update of a v2 trace could bring back v2 values the first update had replaced; we use it
only when ClickHouse has no row.)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from psycopg_pool import AsyncConnectionPool

from langfuse_aio.migrations.background.copy_to_clickhouse import SCRIPTS
from langfuse_aio.storage.clickhouse.base import Row
from langfuse_aio.storage.postgres.legacy_rows import Table, legacy_rows

_UNFINISHED = (
    "SELECT script FROM background_migrations WHERE script = ANY(%s) AND finished_at IS NULL"
)


class LegacyBaseline:
    def __init__(self, pg: AsyncConnectionPool[Any], *, ttl_seconds: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._pg = pg
        self._ttl = ttl_seconds
        self._clock = clock
        self._pending: frozenset[str] = frozenset(SCRIPTS)
        self._checked_at: float | None = None

    async def rows(self, project_id: str, missing: Mapping[str, Sequence[str]]) -> dict[str, dict[str, Row]]:
        """v2 rows by ClickHouse table and id, for ids without a ClickHouse row (keyed like `missing`)."""
        wanted = {table: ids for name, ids in missing.items() if ids and (table := _table(name)) is not None}
        if not wanted:
            return {}
        pending = await self._pending_scripts()
        found: dict[str, dict[str, Row]] = {}
        for table, ids in wanted.items():
            if SCRIPTS[table] in pending and (rows := await legacy_rows(self._pg, table, project_id, ids)):
                found[table] = {i: _as_provided_usage(row) for i, row in rows.items()} \
                    if table == "observations" else rows
        return found

    async def _pending_scripts(self) -> frozenset[str]:
        now = self._clock()
        if self._checked_at is None or now - self._checked_at > self._ttl:
            async with self._pg.connection() as conn:
                cur = await conn.execute(_UNFINISHED, (list(SCRIPTS.values()),))
                self._pending = frozenset(str(r[0]) for r in await cur.fetchall())
            self._checked_at = now
        return self._pending


def _as_provided_usage(row: Row) -> Row:
    """v2 kept token counts without saying who supplied them (the copy writes provided_usage_details
    `{}`); as a merge baseline they count as provided, so an update (say, of the output alone) keeps
    the counts v2 showed instead of re-tokenizing the texts."""
    usage = {k: v for k, v in (row.get("usage_details") or {}).items() if v}
    if usage and not row.get("provided_usage_details"):
        return {**row, "provided_usage_details": usage}
    return row


def _table(name: str) -> Table | None:
    for table in SCRIPTS:
        if table == name:
            return table
    return None
