"""Apply the numbered ClickHouse migrations in `migrations/clickhouse/`.

The SQL files are templates for the two layouts Langfuse ships, from one source:

| placeholder | unclustered | clustered (`cluster="name"`) |
| --- | --- | --- |
| `{on_cluster}` | (nothing) | ``ON CLUSTER `name` `` |
| `{replacing_merge_tree}` | `ReplacingMergeTree` | `ReplicatedReplacingMergeTree` |
| `{merge_tree}` | `MergeTree` | `ReplicatedMergeTree` |

Table names are not qualified: statements run in the backend's database (`ch.database`).
Applied versions are recorded in our own table `langfuse_aio_schema_migrations`, beside (never in)
golang-migrate's `schema_migrations` of a Langfuse installation. Every statement is idempotent
(IF NOT EXISTS), so a run cut short is finished by the next one.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import structlog

from langfuse_aio.migrations.loader import load_migrations, split_statements
from langfuse_aio.storage.clickhouse.base import ClickHouse

log = structlog.get_logger(__name__)

MIGRATIONS_PACKAGE = "langfuse_aio.migrations.clickhouse"
RECORD_TABLE = "langfuse_aio_schema_migrations"

RECORD_DDL = f"""CREATE TABLE IF NOT EXISTS {RECORD_TABLE} {{on_cluster}} (
    version UInt32,
    name String,
    applied_at DateTime64(3)
) ENGINE = {{merge_tree}}
ORDER BY version"""

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


class ClickHouseTemplateError(Exception):
    pass


def render(sql: str, *, cluster: str | None) -> str:
    """The unclustered (`cluster=None`) or clustered variant of a migration template."""
    if cluster is not None and not cluster.strip():
        raise ClickHouseTemplateError("the cluster name is empty")
    values = {
        "on_cluster": "" if cluster is None else "ON CLUSTER `" + cluster.replace("`", "``") + "`",
        "replacing_merge_tree": "ReplacingMergeTree" if cluster is None else "ReplicatedReplacingMergeTree",
        "merge_tree": "MergeTree" if cluster is None else "ReplicatedMergeTree",
    }

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise ClickHouseTemplateError(f"unknown placeholder {{{name}}} in a ClickHouse migration")
        return values[name]

    return _PLACEHOLDER.sub(substitute, sql)


async def apply_clickhouse_migrations(ch: ClickHouse, *, cluster: str | None, until: int | None = None) -> list[int]:
    """Apply the migrations not yet recorded in `ch.database`, in order (up to version `until`, if
    given: tests build an older schema this way); return their versions."""
    migrations = load_migrations(MIGRATIONS_PACKAGE)
    await ch.command(render(RECORD_DDL, cluster=cluster))
    recorded = {int(row["version"]) for row in await ch.query(f"SELECT version FROM {RECORD_TABLE}")}
    known = {m.version for m in migrations}
    if recorded - known:
        log.warning(
            "clickhouse_schema_newer_than_code",
            database=ch.database,
            unknown_versions=sorted(recorded - known),
        )
    applied: list[int] = []
    for migration in migrations:
        if migration.version in recorded or (until is not None and migration.version > until):
            continue
        for statement in split_statements(render(migration.sql, cluster=cluster)):
            await ch.command(statement)
        await ch.insert(
            RECORD_TABLE,
            [{"version": migration.version, "name": migration.name, "applied_at": datetime.now(UTC)}],
        )
        log.info(
            "clickhouse_migration_applied",
            database=ch.database,
            version=migration.version,
            name=migration.name,
            clustered=cluster is not None,
        )
        applied.append(migration.version)
    return applied
