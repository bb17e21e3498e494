"""Apply the numbered Postgres migrations of `langfuse_aio.migrations.postgres`.

Our record of applied versions lives in `langfuse_aio_migrations`, beside Prisma's
`_prisma_migrations`, which we never read or write: on a Langfuse v2 database both tables exist and
each tool keeps its own history. The SQL files themselves are additive and idempotent, so a database
Prisma already migrated only gains what it lacks.

Concurrency: every transaction below first takes the same transaction-level advisory lock, so two
processes starting at once queue up. Each migration runs in its own transaction that re-checks the
record under the lock, applies the script whole and records the version; a failure rolls back that
migration completely and stops the run. Transaction-level locks are released by COMMIT/ROLLBACK, so
nothing leaks into a pooled connection.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from langfuse_aio.migrations.loader import Migration, load_migrations

PACKAGE = "langfuse_aio.migrations.postgres"
RECORD_TABLE = "langfuse_aio_migrations"

# Arbitrary but fixed: the bytes of "lfaio-pg" as a signed bigint. Shared by every applier.
ADVISORY_LOCK_KEY = int.from_bytes(b"lfaio-pg", "big", signed=True)

_LOCK = "SELECT pg_advisory_xact_lock(%s)"
_CREATE_RECORD_TABLE = """
CREATE TABLE IF NOT EXISTS langfuse_aio_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""
_IS_RECORDED = "SELECT 1 FROM langfuse_aio_migrations WHERE version = %s"
_RECORD = "INSERT INTO langfuse_aio_migrations (version, name, applied_at) VALUES (%s, %s, now())"


class MigrationError(Exception):
    """A migration could not be applied; its transaction was rolled back."""


def pending_migrations(migrations: Iterable[Migration], applied: Iterable[int]) -> list[Migration]:
    """The migrations whose version is not in `applied`, in version order."""
    done = set(applied)
    return sorted((m for m in migrations if m.version not in done), key=lambda m: m.version)


async def apply_postgres_migrations(
    conn: psycopg.AsyncConnection[Any],
    *,
    migrations: Sequence[Migration] | None = None,
) -> list[int]:
    """Apply every migration not yet recorded; return the versions applied by this call, in order.

    `conn` must not be inside a transaction; it may be in autocommit mode or not. `migrations`
    defaults to the packaged ones (tests pass their own).
    """
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        raise MigrationError("apply_postgres_migrations needs a connection outside any transaction")
    todo = list(load_migrations(PACKAGE) if migrations is None else migrations)

    async with conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(_LOCK, (ADVISORY_LOCK_KEY,))
        await cur.execute(_CREATE_RECORD_TABLE)
        await cur.execute("SELECT version FROM langfuse_aio_migrations")
        recorded = [int(row[0]) for row in await cur.fetchall()]

    applied: list[int] = []
    for migration in pending_migrations(todo, recorded):
        try:
            async with conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
                await cur.execute(_LOCK, (ADVISORY_LOCK_KEY,))
                await cur.execute(_IS_RECORDED, (migration.version,))
                if await cur.fetchone() is not None:
                    continue  # another process applied it while we waited for the lock
                # No parameters: psycopg sends the script with the simple query protocol, which
                # runs several statements (and DO blocks) in one call. bytes, because the text is
                # read from a file and so is not a LiteralString.
                await cur.execute(migration.sql.encode("utf-8"))
                await cur.execute(_RECORD, (migration.version, migration.name))
        except psycopg.Error as exc:
            raise MigrationError(
                f"postgres migration {migration.version:04d}_{migration.name} failed: {exc}"
            ) from exc
        applied.append(migration.version)
    return applied
