"""The worker's side of background migrations: the manager built from Resources and its cron job.

The cron job (every minute, unique across workers, and once as the worker starts) only kicks this
process's manager: the loop runs as a task of its own, so a migration that takes hours is not an arq
job with a timeout, and a kick while the loop runs does nothing. With
LANGFUSE_ENABLE_BACKGROUND_MIGRATIONS=false no manager is built and no cron job registered.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, cast

from arq.cron import CronJob, cron

from langfuse_aio.migrations.background.contract import BackgroundMigration, MigrationContext
from langfuse_aio.migrations.background.manager import BackgroundMigrationManager
from langfuse_aio.runtime.resources import Resources

CHECK_BACKGROUND_MIGRATIONS = "check_background_migrations"
CTX_KEY = "background_migrations"
REGISTRY_MODULE = "langfuse_aio.migrations.background.registry"


def load_registry(ctx: MigrationContext) -> Mapping[str, BackgroundMigration]:
    """The migration scripts by name, imported when first needed (not at import time of the worker)."""
    module = importlib.import_module(REGISTRY_MODULE)
    return cast(Mapping[str, BackgroundMigration], module.build_migrations(ctx))


def build_manager(resources: Resources) -> BackgroundMigrationManager | None:
    if not resources.settings.enable_background_migrations:
        return None
    context = MigrationContext(settings=resources.settings, pg=resources.pg, clickhouse=resources.clickhouse)
    return BackgroundMigrationManager(resources.pg, lambda: load_registry(context),
                                      stale_seconds=resources.settings.background_migration_lock_stale_seconds)


async def check_background_migrations(ctx: dict[str, Any]) -> bool:
    """Start this process's manager loop unless it runs already; True if it was started."""
    manager: BackgroundMigrationManager | None = ctx.get(CTX_KEY)
    return manager is not None and manager.kick()


def background_migrations_cron(*, second: int | set[int] | None = 0) -> CronJob:
    """Every minute at `second` (None: every second, for tests), and once at worker start."""
    return cron(check_background_migrations, name=CHECK_BACKGROUND_MIGRATIONS, second=second, microsecond=0,
                unique=True, run_at_startup=True, timeout=30, max_tries=1)


async def stop_manager(ctx: Mapping[str, Any], timeout: float) -> None:  # noqa: ASYNC109
    manager: BackgroundMigrationManager | None = ctx.get(CTX_KEY)
    if manager is not None:
        await manager.stop(timeout=timeout)
