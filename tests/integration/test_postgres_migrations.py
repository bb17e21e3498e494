"""Postgres migrations on an empty database and on a Langfuse v2.95 database.

Every test gets fresh databases on the server named by LANGFUSE_AIO_TEST_PG_ADMIN_URL and drops them
afterwards. "Changes nothing" is checked on the catalog (columns with types and defaults, index
definitions, constraint definitions, enum labels) and on the rows: each row's JSON text over the
columns it had before, plus its ctid and xmin, so an UPDATE or a table rewrite would show.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from langfuse_aio.migrations.loader import Migration, load_migrations
from langfuse_aio.migrations.postgres_apply import (
    MigrationError,
    apply_postgres_migrations,
    pending_migrations,
)

pytestmark = pytest.mark.integration

ADMIN_URL = os.environ.get(
    "LANGFUSE_AIO_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
ALL_VERSIONS = [m.version for m in load_migrations("langfuse_aio.migrations.postgres")]

Conn = psycopg.AsyncConnection[Any]
NewDatabase = Callable[[], Awaitable[str]]

# --- expected schema (spec v2-migration.md §1, v3.0.0 state) --------------------------------------

TS = "timestamp(3) without time zone"
NUM = "numeric(65,30)"
NOW = "CURRENT_TIMESTAMP"

# table -> [(column, format_type, NOT NULL, default)] in column order
EXPECTED_COLUMNS: dict[str, list[tuple[str, str, bool, str | None]]] = {
    "organizations": [
        ("id", "text", True, None),
        ("name", "text", True, None),
        ("created_at", TS, True, NOW),
        ("updated_at", TS, True, NOW),
        ("cloud_config", "jsonb", False, None),
    ],
    "projects": [
        ("id", "text", True, None),
        ("created_at", TS, True, NOW),
        ("name", "text", True, None),
        ("updated_at", TS, True, NOW),
        ("org_id", "text", True, None),
        ("deleted_at", TS, False, None),
    ],
    "api_keys": [
        ("id", "text", True, None),
        ("created_at", TS, True, NOW),
        ("note", "text", False, None),
        ("public_key", "text", True, None),
        ("hashed_secret_key", "text", True, None),
        ("display_secret_key", "text", True, None),
        ("last_used_at", TS, False, None),
        ("expires_at", TS, False, None),
        ("project_id", "text", True, None),
        ("fast_hashed_secret_key", "text", False, None),
    ],
    "models": [
        ("id", "text", True, None),
        ("created_at", TS, True, NOW),
        ("updated_at", TS, True, NOW),
        ("project_id", "text", False, None),
        ("model_name", "text", True, None),
        ("match_pattern", "text", True, None),
        ("start_date", TS, False, None),
        ("input_price", NUM, False, None),
        ("output_price", NUM, False, None),
        ("total_price", NUM, False, None),
        ("unit", "text", False, None),
        ("tokenizer_config", "jsonb", False, None),
        ("tokenizer_id", "text", False, None),
    ],
    "prices": [
        ("id", "text", True, None),
        ("created_at", TS, True, NOW),
        ("updated_at", TS, True, NOW),
        ("model_id", "text", True, None),
        ("usage_type", "text", True, None),
        ("price", NUM, True, None),
        ("pricing_tier_id", "text", False, None),
    ],
    "pricing_tiers": [
        ("id", "text", True, None),
        ("created_at", TS, True, NOW),
        ("updated_at", TS, True, NOW),
        ("model_id", "text", True, None),
        ("name", "text", True, None),
        ("is_default", "boolean", True, "false"),
        ("priority", "integer", True, None),
        ("conditions", "jsonb", True, None),
    ],
    "background_migrations": [
        ("id", "text", True, None),
        ("name", "text", True, None),
        ("script", "text", True, None),
        ("args", "jsonb", True, None),
        ("finished_at", TS, False, None),
        ("failed_at", TS, False, None),
        ("failed_reason", "text", False, None),
        ("worker_id", "text", False, None),
        ("locked_at", TS, False, None),
        ("state", "jsonb", True, "'{}'::jsonb"),
    ],
    "trace_sessions": [
        ("id", "text", True, None),
        ("created_at", TS, True, NOW),
        ("updated_at", TS, True, NOW),
        ("project_id", "text", True, None),
        ("bookmarked", "boolean", True, "false"),
        ("public", "boolean", True, "false"),
    ],
    "traces": [
        ("id", "text", True, None),
        ("timestamp", TS, True, NOW),
        ("name", "text", False, None),
        ("project_id", "text", True, None),
        ("metadata", "jsonb", False, None),
        ("external_id", "text", False, None),
        ("user_id", "text", False, None),
        ("release", "text", False, None),
        ("version", "text", False, None),
        ("public", "boolean", True, "false"),
        ("bookmarked", "boolean", True, "false"),
        ("input", "jsonb", False, None),
        ("output", "jsonb", False, None),
        ("session_id", "text", False, None),
        ("tags", "text[]", False, "ARRAY[]::text[]"),
        ("created_at", TS, True, NOW),
        ("updated_at", TS, True, NOW),
    ],
    "observations": [
        ("id", "text", True, None),
        ("name", "text", False, None),
        ("start_time", TS, True, NOW),
        ("end_time", TS, False, None),
        ("parent_observation_id", "text", False, None),
        ("type", '"ObservationType"', True, None),
        ("trace_id", "text", False, None),
        ("metadata", "jsonb", False, None),
        ("model", "text", False, None),
        ("modelParameters", "jsonb", False, None),
        ("input", "jsonb", False, None),
        ("output", "jsonb", False, None),
        ("level", '"ObservationLevel"', True, "'DEFAULT'::\"ObservationLevel\""),
        ("status_message", "text", False, None),
        ("completion_start_time", TS, False, None),
        ("completion_tokens", "integer", True, "0"),
        ("prompt_tokens", "integer", True, "0"),
        ("total_tokens", "integer", True, "0"),
        ("version", "text", False, None),
        ("project_id", "text", True, None),
        ("created_at", TS, True, NOW),
        ("unit", "text", False, None),
        ("prompt_id", "text", False, None),
        ("input_cost", NUM, False, None),
        ("output_cost", NUM, False, None),
        ("total_cost", NUM, False, None),
        ("internal_model", "text", False, None),
        ("updated_at", TS, True, NOW),
        ("calculated_input_cost", NUM, False, None),
        ("calculated_output_cost", NUM, False, None),
        ("calculated_total_cost", NUM, False, None),
        ("internal_model_id", "text", False, None),
    ],
    "scores": [
        ("id", "text", True, None),
        ("timestamp", TS, True, NOW),
        ("name", "text", True, None),
        ("value", "double precision", False, None),
        ("observation_id", "text", False, None),
        ("trace_id", "text", True, None),
        ("comment", "text", False, None),
        ("source", '"ScoreSource"', True, None),
        ("project_id", "text", True, None),
        ("author_user_id", "text", False, None),
        ("config_id", "text", False, None),
        ("data_type", '"ScoreDataType"', True, "'NUMERIC'::\"ScoreDataType\""),
        ("string_value", "text", False, None),
        ("created_at", TS, True, NOW),
        ("updated_at", TS, True, NOW),
        ("queue_id", "text", False, None),
    ],
    "score_configs": [
        ("id", "text", True, None),
        ("created_at", TS, True, NOW),
        ("updated_at", TS, True, NOW),
        ("project_id", "text", True, None),
        ("name", "text", True, None),
        ("data_type", '"ScoreDataType"', True, None),
        ("is_archived", "boolean", True, "false"),
        ("min_value", "double precision", False, None),
        ("max_value", "double precision", False, None),
        ("categories", "jsonb", False, None),
        ("description", "text", False, None),
    ],
}

EXPECTED_INDEXES: dict[str, set[str]] = {
    "organizations": {"organizations_pkey"},
    "projects": {"projects_pkey", "projects_org_id_idx"},
    "api_keys": {
        "api_keys_pkey", "api_keys_id_key", "api_keys_public_key_key", "api_keys_hashed_secret_key_key",
        "api_keys_fast_hashed_secret_key_key", "api_keys_project_id_idx", "api_keys_public_key_idx",
        "api_keys_hashed_secret_key_idx", "api_keys_fast_hashed_secret_key_idx",
    },
    "models": {"models_pkey", "models_project_id_model_name_start_date_unit_key", "models_model_name_idx"},
    "prices": {"prices_pkey", "prices_model_id_usage_type_pricing_tier_id_key"},
    "pricing_tiers": {"pricing_tiers_pkey", "pricing_tiers_model_id_priority_key", "pricing_tiers_model_id_name_key"},
    "background_migrations": {"background_migrations_pkey", "background_migrations_name_key"},
    "trace_sessions": {"trace_sessions_pkey", "trace_sessions_project_id_idx", "trace_sessions_created_at_idx"},
    "traces": {
        "traces_pkey", "traces_project_id_timestamp_idx", "traces_session_id_idx", "traces_name_idx",
        "traces_user_id_idx", "traces_id_user_id_idx", "traces_timestamp_idx", "traces_created_at_idx",
        "traces_tags_idx",
    },
    "observations": {
        "observations_pkey", "observations_id_project_id_key",
        "observations_project_id_internal_model_start_time_unit_idx",
        "observations_trace_id_project_id_type_start_time_idx",
        "observations_trace_id_project_id_start_time_idx", "observations_project_id_start_time_type_idx",
        "observations_project_id_prompt_id_idx", "observations_type_idx", "observations_start_time_idx",
        "observations_created_at_idx", "observations_model_idx", "observations_internal_model_idx",
        "observations_prompt_id_idx",
    },
    "scores": {
        "scores_pkey", "scores_id_project_id_key", "scores_timestamp_idx", "scores_value_idx",
        "scores_project_id_name_idx", "scores_author_user_id_idx", "scores_config_id_idx",
        "scores_source_idx", "scores_created_at_idx", "scores_trace_id_idx", "scores_observation_id_idx",
    },
    "score_configs": {"score_configs_pkey", "score_configs_id_project_id_key", "score_configs_project_id_idx"},
    "langfuse_aio_migrations": {"langfuse_aio_migrations_pkey"},
    "langfuse_aio_background_migrations": {
        "langfuse_aio_background_migrations_pkey", "langfuse_aio_background_migrations_name_key",
    },
    "langfuse_aio_ingestion_errors": {
        "langfuse_aio_ingestion_errors_pkey", "langfuse_aio_ingestion_errors_project_id_created_at_idx",
    },
}
# langfuse-aio's own tables: the only tables we ever add to a Langfuse database.
OUR_TABLES = {"langfuse_aio_migrations", "langfuse_aio_ingestion_errors", "langfuse_aio_background_migrations"}
# Langfuse's pricing tiers (0008), added to a v2 database as current Langfuse adds them: one new table,
# one new column, and the prices unique index widened to (model_id, usage_type, pricing_tier_id).
PRICING_TIER_TABLES = {"pricing_tiers", "prices"}
REPLACED_INDEXES = {"prices_model_id_usage_type_key"}

# Index definitions worth pinning exactly: unique-ness, access method and column order.
EXPECTED_INDEXDEFS = {
    "api_keys_public_key_key": (
        "CREATE UNIQUE INDEX api_keys_public_key_key ON public.api_keys USING btree (public_key)"
    ),
    "models_project_id_model_name_start_date_unit_key": (
        "CREATE UNIQUE INDEX models_project_id_model_name_start_date_unit_key ON public.models "
        "USING btree (project_id, model_name, start_date, unit)"
    ),
    "prices_model_id_usage_type_pricing_tier_id_key": (
        "CREATE UNIQUE INDEX prices_model_id_usage_type_pricing_tier_id_key ON public.prices "
        "USING btree (model_id, usage_type, pricing_tier_id)"
    ),
    "background_migrations_name_key": (
        "CREATE UNIQUE INDEX background_migrations_name_key ON public.background_migrations USING btree (name)"
    ),
    "traces_tags_idx": "CREATE INDEX traces_tags_idx ON public.traces USING gin (tags)",
    "traces_project_id_timestamp_idx": (
        'CREATE INDEX traces_project_id_timestamp_idx ON public.traces USING btree (project_id, "timestamp")'
    ),
    "scores_trace_id_idx": "CREATE INDEX scores_trace_id_idx ON public.scores USING hash (trace_id)",
    "scores_observation_id_idx": (
        "CREATE INDEX scores_observation_id_idx ON public.scores USING hash (observation_id)"
    ),
    "trace_sessions_pkey": (
        "CREATE UNIQUE INDEX trace_sessions_pkey ON public.trace_sessions USING btree (id, project_id)"
    ),
}

_CASCADE = "ON UPDATE CASCADE ON DELETE CASCADE"
EXPECTED_FOREIGN_KEYS = {
    ("projects", "projects_org_id_fkey"): f"FOREIGN KEY (org_id) REFERENCES organizations(id) {_CASCADE}",
    ("api_keys", "api_keys_project_id_fkey"): f"FOREIGN KEY (project_id) REFERENCES projects(id) {_CASCADE}",
    ("models", "models_project_id_fkey"): f"FOREIGN KEY (project_id) REFERENCES projects(id) {_CASCADE}",
    ("prices", "prices_model_id_fkey"): f"FOREIGN KEY (model_id) REFERENCES models(id) {_CASCADE}",
    ("prices", "prices_pricing_tier_id_fkey"): (
        f"FOREIGN KEY (pricing_tier_id) REFERENCES pricing_tiers(id) {_CASCADE}"
    ),
    ("pricing_tiers", "pricing_tiers_model_id_fkey"): f"FOREIGN KEY (model_id) REFERENCES models(id) {_CASCADE}",
    ("trace_sessions", "trace_sessions_project_id_fkey"): (
        f"FOREIGN KEY (project_id) REFERENCES projects(id) {_CASCADE}"
    ),
    ("traces", "traces_project_id_fkey"): f"FOREIGN KEY (project_id) REFERENCES projects(id) {_CASCADE}",
    ("observations", "observations_project_id_fkey"): (
        f"FOREIGN KEY (project_id) REFERENCES projects(id) {_CASCADE}"
    ),
    ("scores", "scores_project_id_fkey"): f"FOREIGN KEY (project_id) REFERENCES projects(id) {_CASCADE}",
    ("scores", "scores_config_id_fkey"): (
        "FOREIGN KEY (config_id) REFERENCES score_configs(id) ON UPDATE CASCADE ON DELETE SET NULL"
    ),
    ("score_configs", "score_configs_project_id_fkey"): (
        f"FOREIGN KEY (project_id) REFERENCES projects(id) {_CASCADE}"
    ),
}

EXPECTED_ENUMS = {
    "ObservationType": ["SPAN", "EVENT", "GENERATION"],
    "ObservationLevel": ["DEBUG", "DEFAULT", "WARNING", "ERROR"],
    "ScoreSource": ["ANNOTATION", "API", "EVAL"],
    "ScoreDataType": ["CATEGORICAL", "NUMERIC", "BOOLEAN"],
}

EXPECTED_BACKGROUND_MIGRATIONS = [
    ("32859a35-98f5-4a4a-b438-ebc579349e00", "20241024_1216_add_generations_cost_backfill",
     "addGenerationsCostBackfill"),
    ("5960f22a-748f-480c-b2f3-bc4f9d5d84bc", "20241024_1730_migrate_traces_from_pg_to_ch",
     "migrateTracesFromPostgresToClickhouse"),
    ("7526e7c9-0026-4595-af2c-369dfd9176ec", "20241024_1737_migrate_observations_from_pg_to_ch",
     "migrateObservationsFromPostgresToClickhouse"),
    ("94e50334-50d3-4e49-ad2e-9f6d92c85ef7", "20241024_1738_migrate_scores_from_pg_to_ch",
     "migrateScoresFromPostgresToClickhouse"),
]

# v2 keeps this; v3.0.0 (and so our migrations) does not create it.
V2_ONLY_FOREIGN_KEYS = {("traces", "traces_session_id_project_id_fkey")}

# --- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture
async def new_database() -> AsyncIterator[NewDatabase]:
    """Factory: create an empty database, return its conninfo; all are dropped at teardown."""
    created: list[str] = []

    async def create() -> str:
        name = f"lfaio_pgmig_{secrets.token_hex(6)}"
        async with await psycopg.AsyncConnection.connect(ADMIN_URL, autocommit=True) as admin:
            await admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        created.append(name)
        return make_conninfo(ADMIN_URL, dbname=name)

    yield create

    async with await psycopg.AsyncConnection.connect(ADMIN_URL, autocommit=True) as admin:
        for name in created:
            await admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
async def empty_db(new_database: NewDatabase) -> str:
    return await new_database()


@pytest.fixture
async def v2_db(new_database: NewDatabase) -> str:
    """A database shaped like Langfuse v2.95 with rows in it."""
    url = await new_database()
    async with await psycopg.AsyncConnection.connect(url) as conn:
        await load_fixture(conn, "langfuse_v2_95_schema.sql")
        await load_fixture(conn, "langfuse_v2_95_seed.sql")
    return url


async def load_fixture(conn: Conn, file_name: str) -> None:
    async with conn.transaction():
        await conn.execute((FIXTURES / file_name).read_bytes())


async def migrate(url: str, **kwargs: Any) -> list[int]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        return await apply_postgres_migrations(conn, **kwargs)


# --- catalog and row snapshots -------------------------------------------------------------------

CATALOG_QUERIES: dict[str, sql.SQL] = {
    "tables": sql.SQL(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1"
    ),
    "columns": sql.SQL(
        """
        SELECT c.relname, a.attname, a.attnum, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid)
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid AND c.relkind = 'r'
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE c.relnamespace = current_schema()::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY 1, 3
        """
    ),
    "indexes": sql.SQL(
        "SELECT tablename, indexname, indexdef FROM pg_indexes "
        "WHERE schemaname = current_schema() ORDER BY 1, 2"
    ),
    "constraints": sql.SQL(
        """
        SELECT conrelid::regclass::text, conname, contype::text, pg_get_constraintdef(oid), convalidated
        FROM pg_constraint WHERE connamespace = current_schema()::regnamespace ORDER BY 1, 2
        """
    ),
    "enums": sql.SQL(
        """
        SELECT t.typname, array_agg(e.enumlabel::text ORDER BY e.enumsortorder)
        FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
        WHERE t.typnamespace = current_schema()::regnamespace GROUP BY 1 ORDER BY 1
        """
    ),
}


async def catalog(conn: Conn) -> dict[str, list[tuple[Any, ...]]]:
    result: dict[str, list[tuple[Any, ...]]] = {}
    for key, query in CATALOG_QUERIES.items():
        cur = await conn.execute(query)
        result[key] = [tuple(row) for row in await cur.fetchall()]
    return result


def columns_by_table(cat: dict[str, list[tuple[Any, ...]]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for table, column, *_ in cat["columns"]:
        out.setdefault(table, []).append(column)
    return out


async def rows(conn: Conn, columns: dict[str, list[str]], *, skip: frozenset[str] = frozenset()) -> dict[
    str, list[tuple[str, str, str]]
]:
    """Per table: (ctid, xmin, JSON of the row over `columns[table]`) sorted by ctid."""
    out: dict[str, list[tuple[str, str, str]]] = {}
    for table, cols in columns.items():
        if table in skip:
            continue
        query = sql.SQL(
            "SELECT ctid::text, xmin::text, (SELECT row_to_json(r) FROM (SELECT {cols}) r)::text "
            "FROM {table} ORDER BY ctid"
        ).format(cols=sql.SQL(", ").join(map(sql.Identifier, cols)), table=sql.Identifier(table))
        cur = await conn.execute(query)
        out[table] = [tuple(row) for row in await cur.fetchall()]
    return out


async def snapshot(url: str, *, skip_rows: frozenset[str] = frozenset()) -> dict[str, Any]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cat = await catalog(conn)
        return {"catalog": cat, "rows": await rows(conn, columns_by_table(cat), skip=skip_rows)}


async def fetch(url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute(query.encode(), params or None)
        return [tuple(row) for row in await cur.fetchall()]


# --- tests ----------------------------------------------------------------------------------------


async def test_empty_database_gets_the_langfuse_schema(empty_db: str) -> None:
    assert await migrate(empty_db) == ALL_VERSIONS == [1, 2, 3, 4, 5, 6, 7, 8, 9]

    async with await psycopg.AsyncConnection.connect(empty_db) as conn:
        cat = await catalog(conn)

    assert {t for (t,) in cat["tables"]} == set(EXPECTED_COLUMNS) | OUR_TABLES

    columns: dict[str, list[tuple[str, str, bool, str | None]]] = {}
    for table, column, _num, type_, not_null, default in cat["columns"]:
        columns.setdefault(table, []).append((column, type_, not_null, default))
    for table, expected in EXPECTED_COLUMNS.items():
        assert columns[table] == expected, table
    assert columns["langfuse_aio_migrations"] == [
        ("version", "integer", True, None),
        ("name", "text", True, None),
        ("applied_at", "timestamp with time zone", True, "now()"),
    ]

    indexes: dict[str, set[str]] = {}
    indexdefs: dict[str, str] = {}
    for table, name, definition in cat["indexes"]:
        indexes.setdefault(table, set()).add(name)
        indexdefs[name] = definition
    assert indexes == EXPECTED_INDEXES
    for name, definition in EXPECTED_INDEXDEFS.items():
        assert indexdefs[name] == definition

    constraints = {(table, name): (kind, definition, valid) for table, name, kind, definition, valid in
                   cat["constraints"]}
    foreign_keys = {key: definition for key, (kind, definition, _) in constraints.items() if kind == "f"}
    assert foreign_keys == EXPECTED_FOREIGN_KEYS
    primary_keys = {table for (table, _), (kind, _, _) in constraints.items() if kind == "p"}
    assert primary_keys == set(EXPECTED_INDEXES)
    # Like Prisma: UNIQUE is a unique index, never a constraint; nothing else is constrained.
    assert {kind for kind, _, _ in constraints.values()} == {"p", "f"}
    assert all(valid for _, _, valid in constraints.values())

    assert dict(cat["enums"]) == EXPECTED_ENUMS

    seeded = await fetch(
        empty_db,
        "SELECT id, name, script, args::text, state::text, finished_at, failed_at, failed_reason, worker_id,"
        " locked_at FROM background_migrations ORDER BY name",
    )
    assert seeded == [(*row, "{}", "{}", None, None, None, None, None) for row in EXPECTED_BACKGROUND_MIGRATIONS]

    recorded = await fetch(empty_db, "SELECT version, name FROM langfuse_aio_migrations ORDER BY version")
    assert recorded == [
        (1, "enum_types"),
        (2, "organizations_projects_api_keys"),
        (3, "models_prices"),
        (4, "background_migrations"),
        (5, "legacy_v2_tables"),
        (6, "ingestion_errors"),
        (7, "score_configs"),
        (8, "pricing_tiers"),
        (9, "langfuse_aio_background_migrations"),
    ]
    assert columns["langfuse_aio_background_migrations"] == EXPECTED_COLUMNS["background_migrations"]
    assert await fetch(empty_db, "SELECT name, script, args::text, state::text, finished_at"
                                 " FROM langfuse_aio_background_migrations") == [
        ("20261205_read_index_backfill", "backfillReadIndexes", "{}", "{}", None)]


async def test_second_run_applies_nothing_and_changes_nothing(empty_db: str) -> None:
    assert await migrate(empty_db) == ALL_VERSIONS
    before = await snapshot(empty_db)

    assert await migrate(empty_db) == []

    assert await snapshot(empty_db) == before


async def test_each_script_is_idempotent_without_our_record(empty_db: str) -> None:
    """Forget the record and re-run every script: all apply again and nothing changes."""
    assert await migrate(empty_db) == ALL_VERSIONS
    before = await snapshot(empty_db, skip_rows=frozenset({"langfuse_aio_migrations"}))
    async with await psycopg.AsyncConnection.connect(empty_db, autocommit=True) as conn:
        await conn.execute("DELETE FROM langfuse_aio_migrations")

    assert await migrate(empty_db) == ALL_VERSIONS

    assert await snapshot(empty_db, skip_rows=frozenset({"langfuse_aio_migrations"})) == before


async def test_v2_database_gains_only_what_is_missing_and_keeps_every_row(v2_db: str) -> None:
    before = await snapshot(v2_db)
    assert {t for (t,) in before["catalog"]["tables"]} >= {"_prisma_migrations", "users", *EXPECTED_COLUMNS} - {
        "pricing_tiers"}

    assert await migrate(v2_db) == ALL_VERSIONS
    after = await snapshot(v2_db)

    cat_before, cat_after = before["catalog"], after["catalog"]
    # Tables: only our own (langfuse_aio_*) tables are new.
    assert {t for (t,) in set(cat_after["tables"]) - set(cat_before["tables"])} == OUR_TABLES | {"pricing_tiers"}
    assert set(cat_before["tables"]) <= set(cat_after["tables"])
    # Columns: every old column unchanged (type, nullability, default, position); new ones are
    # projects.deleted_at and our record table's.
    assert set(cat_before["columns"]) <= set(cat_after["columns"])
    added_columns = {(t, c) for t, c, *_ in set(cat_after["columns"]) - set(cat_before["columns"])}
    assert {(t, c) for t, c in added_columns if t not in OUR_TABLES | {"pricing_tiers"}} == {
        ("projects", "deleted_at"), ("prices", "pricing_tier_id")}
    assert ("projects", "deleted_at", 6, TS, False, None) in cat_after["columns"]
    # Indexes and constraints: all kept as they were, including the v2-only foreign keys.
    kept_indexes = {i for i in cat_before["indexes"] if i[1] not in REPLACED_INDEXES}
    assert kept_indexes <= set(cat_after["indexes"])
    assert {i[0] for i in set(cat_after["indexes"]) - set(cat_before["indexes"])} == OUR_TABLES | PRICING_TIER_TABLES
    assert set(cat_before["constraints"]) <= set(cat_after["constraints"])
    assert {c[0] for c in set(cat_after["constraints"]) - set(cat_before["constraints"])} == (
        OUR_TABLES | PRICING_TIER_TABLES)
    assert {(c[0], c[1]) for c in cat_after["constraints"]} >= V2_ONLY_FOREIGN_KEYS
    assert cat_after["enums"] == cat_before["enums"]

    # Rows: every row of every pre-existing table (Prisma's record included) byte-identical over
    # its old columns, at the same ctid with the same xmin: nothing was updated or rewritten.
    async with await psycopg.AsyncConnection.connect(v2_db) as conn:
        rows_after = await rows(conn, columns_by_table(cat_before))
    assert rows_after == before["rows"]
    assert sum(len(r) for r in rows_after.values()) > 40

    assert await fetch(v2_db, "SELECT count(*) FROM projects WHERE deleted_at IS NOT NULL") == [(0,)]
    progress = await fetch(
        v2_db,
        "SELECT id, args::text, state::text, finished_at::text, failed_reason FROM background_migrations"
        " ORDER BY name",
    )
    assert progress == [
        ("32859a35-98f5-4a4a-b438-ebc579349e00", "{}", "{}", "2024-12-10 03:04:05.678", None),
        ("5960f22a-748f-480c-b2f3-bc4f9d5d84bc", '{"batchSize": 5000}',
         '{"maxDate": "2024-11-21T08:00:00.100Z"}', None, None),
        ("7526e7c9-0026-4595-af2c-369dfd9176ec", "{}", "{}", None, None),
        ("94e50334-50d3-4e49-ad2e-9f6d92c85ef7", "{}", "{}", None, "ClickHouse unreachable: ECONNREFUSED"),
    ]

    assert await migrate(v2_db) == []
    assert await snapshot(v2_db) == after


async def test_v2_database_ends_with_the_same_schema_as_an_empty_one(empty_db: str, v2_db: str) -> None:
    """After migrating, our tables look alike on both paths, except the v2-only foreign key."""
    await migrate(empty_db)
    await migrate(v2_db)
    ours = set(EXPECTED_COLUMNS) | {"langfuse_aio_migrations"}

    async with await psycopg.AsyncConnection.connect(empty_db) as conn:
        fresh = await catalog(conn)
    async with await psycopg.AsyncConnection.connect(v2_db) as conn:
        upgraded = await catalog(conn)

    for key in ("columns", "indexes"):
        assert [r for r in fresh[key] if r[0] in ours] == [r for r in upgraded[key] if r[0] in ours], key
    fresh_constraints = {r for r in fresh["constraints"] if r[0] in ours}
    upgraded_constraints = {r for r in upgraded["constraints"] if r[0] in ours}
    assert fresh_constraints <= upgraded_constraints
    assert {(r[0], r[1]) for r in upgraded_constraints - fresh_constraints} == V2_ONLY_FOREIGN_KEYS
    assert [e for e in upgraded["enums"] if e[0] in EXPECTED_ENUMS] == fresh["enums"]


async def test_concurrent_appliers_apply_each_migration_once(empty_db: str) -> None:
    async def run(autocommit: bool) -> list[int]:
        async with await psycopg.AsyncConnection.connect(empty_db, autocommit=autocommit) as conn:
            return await apply_postgres_migrations(conn)

    results = await asyncio.gather(run(False), run(True), run(False), run(True))

    applied = [v for result in results for v in result]
    assert sorted(applied) == ALL_VERSIONS
    assert all(result == sorted(result) for result in results)
    recorded = await fetch(empty_db, "SELECT version FROM langfuse_aio_migrations ORDER BY version")
    assert recorded == [(v,) for v in ALL_VERSIONS]
    assert await fetch(empty_db, "SELECT count(*) FROM background_migrations") == [(4,)]


async def test_failed_migration_rolls_back_whole_and_stops(empty_db: str) -> None:
    packaged = load_migrations("langfuse_aio.migrations.postgres")
    n = len(packaged)
    broken = Migration(n + 1, "broken", "CREATE TABLE half_done (id int);\nSELECT 1 / 0;\n")
    later = Migration(n + 2, "later", "CREATE TABLE never_created (id int);\n")

    with pytest.raises(MigrationError, match=rf"{n + 1:04d}_broken failed: division by zero"):
        await migrate(empty_db, migrations=[*packaged, broken, later])

    assert await fetch(empty_db, "SELECT max(version) FROM langfuse_aio_migrations") == [(n,)]
    assert await fetch(
        empty_db, "SELECT to_regclass('half_done') IS NULL, to_regclass('never_created') IS NULL"
    ) == [(True, True)]
    assert await migrate(empty_db) == []


async def test_refuses_a_connection_inside_a_transaction(empty_db: str) -> None:
    async with await psycopg.AsyncConnection.connect(empty_db) as conn:
        await conn.execute("SELECT 1")
        with pytest.raises(MigrationError, match="outside any transaction"):
            await apply_postgres_migrations(conn)


def test_pending_migrations_is_the_unapplied_rest_in_order() -> None:
    ms = [Migration(3, "c", ""), Migration(1, "a", ""), Migration(2, "b", "")]
    assert [m.version for m in pending_migrations(ms, [2])] == [1, 3]
    assert pending_migrations(ms, [1, 2, 3]) == []
