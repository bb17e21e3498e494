"""The worker's side of background migrations: the managers built from Resources and their cron job.

Two managers, each with its own table and the same lock protocol: Langfuse's rows in
`background_migrations` (the v2 upgrade) and our own jobs in `langfuse_aio_background_migrations`
(the read-index backfill), so neither waits behind the other and Langfuse never meets our scripts.
The cron job (every minute, unique across workers, and once as the worker starts) only kicks this
process's managers: each loop runs as a task of its own, so a migration that takes hours is not an
arq job with a timeout, and a kick while a loop runs does nothing. Before kicking ours it re-arms a
finished read-index backfill whose ClickHouse still lacks a complete index (a ClickHouse database
replaced under the same Postgres), and stops looking once ClickHouse has them all. With
LANGFUSE_ENABLE_BACKGROUND_MIGRATIONS=false no manager is built and no cron job registered.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Mapping
from typing import Any, cast

import structlog
from arq.cron import CronJob, cron
from psycopg_pool import AsyncConnectionPool

from langfuse_aio.migrations.background.admin import OWN_TABLE
from langfuse_aio.migrations.background.contract import BackgroundMigration, MigrationContext
from langfuse_aio.migrations.background.manager import BackgroundMigrationManager
from langfuse_aio.migrations.background.read_index_backfill import NAME as READ_INDEX_BACKFILL
from langfuse_aio.runtime.resources import Resources
from langfuse_aio.storage.clickhouse.base import ClickHouse, ClickHouseError
from langfuse_aio.storage.clickhouse.read_index_state import ALL, complete_indexes

log = structlog.get_logger(__name__)

CHECK_BACKGROUND_MIGRATIONS = "check_background_migrations"
CTX_KEY = "background_migrations"
OWN_CTX_KEY = "own_background_migrations"
REGISTRY_MODULE = "langfuse_aio.migrations.background.registry"
_REARM = (
    f"UPDATE {OWN_TABLE} SET finished_at = NULL, state = '{{}}'::jsonb"
    " WHERE name = %s AND finished_at IS NOT NULL AND failed_at IS NULL"
)


def load_registry(ctx: MigrationContext, builder: str = "build_migrations") -> Mapping[str, BackgroundMigration]:
    """The migration scripts by name, imported when first needed (not at import time of the worker)."""
    module = importlib.import_module(REGISTRY_MODULE)
    return cast(Mapping[str, BackgroundMigration], getattr(module, builder)(ctx))


def build_manager(resources: Resources) -> BackgroundMigrationManager | None:
    if not resources.settings.enable_background_migrations:
        return None
    context = MigrationContext(settings=resources.settings, pg=resources.pg, clickhouse=resources.clickhouse)
    return BackgroundMigrationManager(resources.pg, lambda: load_registry(context),
                                      stale_seconds=resources.settings.background_migration_lock_stale_seconds)


class OwnJobs:
    """Our own jobs' manager, and the re-arming of the read-index backfill."""

    def __init__(self, manager: BackgroundMigrationManager, pg: AsyncConnectionPool[Any], clickhouse: ClickHouse):
        self.manager = manager
        self._pg = pg
        self._clickhouse = clickhouse
        self._indexes_complete = False

    async def check(self) -> bool:
        """Re-arm the backfill if needed, then kick the manager; True if its loop was started."""
        if not self._indexes_complete:
            await self._rearm()
        return self.manager.kick()

    async def _rearm(self) -> None:
        try:
            complete = await complete_indexes(self._clickhouse)
        except ClickHouseError as exc:  # ClickHouse not migrated yet: the backfill's validation waits for it
            log.info("read_index_state_unreadable", error=str(exc))
            return
        if complete == ALL:
            self._indexes_complete = True
            return
        async with self._pg.connection(timeout=5) as conn:
            cur = await conn.execute(_REARM, (READ_INDEX_BACKFILL,))
        if cur.rowcount:
            log.warning("read_index_backfill_rearmed", complete=sorted(complete))


def build_own_jobs(resources: Resources) -> OwnJobs | None:
    if not resources.settings.enable_background_migrations:
        return None
    context = MigrationContext(settings=resources.settings, pg=resources.pg, clickhouse=resources.clickhouse)
    manager = BackgroundMigrationManager(
        resources.pg, lambda: load_registry(context, "build_own_migrations"), table=OWN_TABLE,
        stale_seconds=resources.settings.background_migration_lock_stale_seconds)
    return OwnJobs(manager, resources.pg, resources.clickhouse)


async def check_background_migrations(ctx: dict[str, Any]) -> bool:
    """Start this process's manager loops unless they run already; True if one was started."""
    manager: BackgroundMigrationManager | None = ctx.get(CTX_KEY)
    own: OwnJobs | None = ctx.get(OWN_CTX_KEY)
    started = manager is not None and manager.kick()
    return (own is not None and await own.check()) or started


def background_migrations_cron(*, second: int | set[int] | None = 0) -> CronJob:
    """Every minute at `second` (None: every second, for tests), and once at worker start."""
    return cron(check_background_migrations, name=CHECK_BACKGROUND_MIGRATIONS, second=second, microsecond=0,
                unique=True, run_at_startup=True, timeout=30, max_tries=1)


async def stop_manager(ctx: Mapping[str, Any], timeout: float) -> None:  # noqa: ASYNC109
    manager: BackgroundMigrationManager | None = ctx.get(CTX_KEY)
    own: OwnJobs | None = ctx.get(OWN_CTX_KEY)
    managers = [m for m in (manager, own.manager if own is not None else None) if m is not None]
    await asyncio.gather(*(m.stop(timeout=timeout) for m in managers))  # side by side: one grace period
