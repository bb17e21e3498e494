"""The background migrations by the `script` name their `background_migrations` row carries (spec §2.1)."""

from __future__ import annotations

from langfuse_aio.migrations.background.contract import BackgroundMigration, MigrationContext
from langfuse_aio.migrations.background.copy_to_clickhouse import SCRIPTS, CopyToClickHouse
from langfuse_aio.migrations.background.cost_backfill import SCRIPT as COST_BACKFILL
from langfuse_aio.migrations.background.cost_backfill import CostBackfill


def build_migrations(ctx: MigrationContext) -> dict[str, BackgroundMigration]:
    migrations: dict[str, BackgroundMigration] = {COST_BACKFILL: CostBackfill(ctx.pg)}
    for table, script in SCRIPTS.items():
        migrations[script] = CopyToClickHouse(ctx.pg, ctx.clickhouse, table)
    return migrations
