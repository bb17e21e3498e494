"""The background migrations by the `script` name their row carries: Langfuse's, in
`background_migrations` (spec §2.1), and our own, in `langfuse_aio_background_migrations`."""

from __future__ import annotations

from langfuse_aio.migrations.background.contract import BackgroundMigration, MigrationContext
from langfuse_aio.migrations.background.copy_to_clickhouse import SCRIPTS, CopyToClickHouse
from langfuse_aio.migrations.background.cost_backfill import SCRIPT as COST_BACKFILL
from langfuse_aio.migrations.background.cost_backfill import CostBackfill
from langfuse_aio.migrations.background.read_index_backfill import SCRIPT as READ_INDEX_BACKFILL
from langfuse_aio.migrations.background.read_index_backfill import ReadIndexBackfill


def build_migrations(ctx: MigrationContext) -> dict[str, BackgroundMigration]:
    migrations: dict[str, BackgroundMigration] = {COST_BACKFILL: CostBackfill(ctx.pg)}
    for table, script in SCRIPTS.items():
        migrations[script] = CopyToClickHouse(ctx.pg, ctx.clickhouse, table)
    return migrations


def build_own_migrations(ctx: MigrationContext) -> dict[str, BackgroundMigration]:
    return {READ_INDEX_BACKFILL: ReadIndexBackfill(ctx.clickhouse)}
