"""Both ClickHouse backends against the real engine: chDB in this process, and clickhouse-connect
against tests.support.chdb_http in a child process (its own chDB path). Every test gets fresh
databases, so the HTTP backend always runs on a non-default database."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from langfuse_aio.migrations.clickhouse_apply import RECORD_TABLE, apply_clickhouse_migrations
from langfuse_aio.storage.clickhouse.base import ClickHouse, ClickHouseError, Row
from langfuse_aio.storage.clickhouse.chdb_backend import open_chdb
from langfuse_aio.storage.clickhouse.http_backend import open_http
from tests.support import external

pytestmark = pytest.mark.integration

BACKENDS = ["chdb", "http"]
T0 = datetime(2024, 11, 5, 10, 11, 12, 345000, tzinfo=UTC)


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chdb_path(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """chDB allows one data path per process: every in-process chDB backend uses this one.

    With the embedded store set, conftest's `resources` opens the app's chDB under store_env's
    data dir, so these tests share that path (each test still gets its own databases)."""
    if os.environ.get("LANGFUSE_AIO_TEST_STORES", "embedded") == "embedded":
        store_env: dict[str, str] = request.getfixturevalue("store_env")
        return Path(store_env["LANGFUSE_AIO_DATA_DIR"]) / "clickhouse"
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture(scope="session")
def chdb_http_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with external.chdb_http(tmp_path_factory.mktemp("chdb_http")) as url:
        yield url


async def _open(kind: str, chdb_path: Path, http_url: str) -> ClickHouse:
    database = f"t_{uuid.uuid4().hex[:12]}"
    if kind == "chdb":
        return await open_chdb(chdb_path, database)
    return await open_http(http_url, "default", "", database)


@pytest.fixture(params=BACKENDS)
async def ch(request: pytest.FixtureRequest, chdb_path: Path, chdb_http_url: str) -> AsyncIterator[ClickHouse]:
    backend = await _open(request.param, chdb_path, chdb_http_url)
    yield backend
    await backend.close()


@pytest.fixture
async def migrated(ch: ClickHouse) -> ClickHouse:
    await apply_clickhouse_migrations(ch, cluster=None)
    return ch


@pytest.fixture
async def both(chdb_path: Path, chdb_http_url: str) -> AsyncIterator[tuple[ClickHouse, ClickHouse]]:
    pair = (await _open("chdb", chdb_path, chdb_http_url), await _open("http", chdb_path, chdb_http_url))
    for backend in pair:
        await apply_clickhouse_migrations(backend, cluster=None)
    yield pair
    for backend in pair:
        await backend.close()


# --- rows -----------------------------------------------------------------------------------


def trace_row(**overrides: Any) -> Row:
    row: Row = {
        "id": "trace-1",
        "timestamp": T0,
        "name": "chat",
        "user_id": "user-1",
        "metadata": {"env": "prod", "quote": 'it\'s "x"'},
        "release": None,
        "version": "v1",
        "project_id": "project-1",
        "environment": "staging",
        "public": True,
        "bookmarked": False,
        "tags": ["a", "b"],
        "input": '{"q": "hi"}',
        "output": None,
        "session_id": "session-1",
        "created_at": T0,
        "updated_at": T0,
        "event_ts": T0,
        "is_deleted": 0,
    }
    return row | overrides


def observation_row(**overrides: Any) -> Row:
    row: Row = {
        "id": "obs-1",
        "trace_id": "trace-1",
        "project_id": "project-1",
        "type": "GENERATION",
        "parent_observation_id": None,
        "start_time": T0,
        "end_time": T0 + timedelta(milliseconds=1500),
        "name": "llm",
        "metadata": {},
        "level": "DEFAULT",
        "status_message": None,
        "version": None,
        "input": "x" * 300,
        "output": "y",
        "provided_model_name": "gpt-4o",
        "internal_model_id": "model-1",
        "model_parameters": '{"temperature": 0.2}',
        "provided_usage_details": {"input": 10},
        "usage_details": {"input": 10, "output": 20, "total": 30},
        "provided_cost_details": {},
        "cost_details": {"input": Decimal("0.000001234567"), "output": 0.1, "total": Decimal("1.1234567890129")},
        "total_cost": Decimal("1.1234567890129"),
        "completion_start_time": None,
        "prompt_id": None,
        "prompt_name": "p",
        "prompt_version": 3,
        "created_at": T0,
        "updated_at": T0,
        "event_ts": T0,
        "is_deleted": 0,
    }
    return row | overrides


def score_row(**overrides: Any) -> Row:
    row: Row = {
        "id": "score-1",
        "timestamp": T0,
        "project_id": "project-1",
        "trace_id": "trace-1",
        "session_id": None,
        "observation_id": None,
        "name": "quality",
        "value": 0.75,
        "source": "API",
        "comment": "good",
        "metadata": {},
        "author_user_id": None,
        "config_id": None,
        "data_type": "NUMERIC",
        "string_value": None,
        "queue_id": None,
        "created_at": T0,
        "updated_at": T0,
        "event_ts": T0,
        "is_deleted": 0,
    }
    return row | overrides


# --- migrations -----------------------------------------------------------------------------


async def test_migrations_apply_on_an_empty_database_once(ch: ClickHouse) -> None:
    assert await apply_clickhouse_migrations(ch, cluster=None) == [1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert await apply_clickhouse_migrations(ch, cluster=None) == []
    recorded = await ch.query(f"SELECT version, name FROM {RECORD_TABLE} ORDER BY version")
    assert recorded == [
        {"version": 1, "name": "traces"},
        {"version": 2, "name": "observations"},
        {"version": 3, "name": "scores"},
        {"version": 4, "name": "environment"},
        {"version": 5, "name": "scores_session_metadata"},
        {"version": 6, "name": "observations_trace_id_index"},
        {"version": 7, "name": "read_index_tables"},
        {"version": 8, "name": "read_index_state"},
        {"version": 9, "name": "trace_copies"},
    ]
    state = await ch.query("SELECT index_name, complete FROM langfuse_aio_read_index_state ORDER BY index_name")
    assert state == [  # empty tables: every index complete from the start (0008, 0009)
        {"index_name": "observation_trace_index", "complete": 1},
        {"index_name": "observations_by_trace", "complete": 1},
        {"index_name": "score_trace_index", "complete": 1},
        {"index_name": "scores_by_trace", "complete": 1},
        {"index_name": "trace_user_index", "complete": 1}]
    ours = await ch.query(
        "SELECT name, engine FROM system.tables WHERE database = {db:String}"
        " AND (name LIKE '%\\_index%' OR name LIKE '%\\_by\\_trace%') ORDER BY name", {"db": ch.database})
    assert [(t["name"], t["engine"]) for t in ours] == [  # read indexes beside Langfuse's tables (0007-0009)
        ("langfuse_aio_read_index_state", "MergeTree"),
        ("observations_by_trace", "ReplacingMergeTree"), ("observations_by_trace_mv", "MaterializedView"),
        ("scores_by_trace", "ReplacingMergeTree"), ("scores_by_trace_mv", "MaterializedView"),
        ("trace_user_index", "ReplacingMergeTree"), ("trace_user_index_mv", "MaterializedView"),
    ]
    tables = await ch.query(
        "SELECT name, engine_full, sorting_key, primary_key, partition_key FROM system.tables"
        " WHERE database = {db:String} AND name IN ('traces', 'observations', 'scores') ORDER BY name",
        {"db": ch.database},
    )
    assert [(t["name"], t["sorting_key"], t["primary_key"], t["partition_key"]) for t in tables] == [
        (
            "observations",
            "project_id, type, toDate(start_time), id",
            "project_id, type, toDate(start_time)",
            "toYYYYMM(start_time)",
        ),
        (
            "scores",
            "project_id, toDate(timestamp), name, id",
            "project_id, toDate(timestamp), name",
            "toYYYYMM(timestamp)",
        ),
        ("traces", "project_id, toDate(timestamp), id", "project_id, toDate(timestamp)", "toYYYYMM(timestamp)"),
    ]
    assert all(t["engine_full"].startswith("ReplacingMergeTree(event_ts, is_deleted)") for t in tables)
    indexes = await ch.query(
        "SELECT table, name, type_full FROM system.data_skipping_indices WHERE database = {db:String}"
        " ORDER BY table, name",
        {"db": ch.database},
    )
    assert [(i["table"], i["name"], i["type_full"]) for i in indexes] == [
        ("observations", "idx_id", "bloom_filter()"),
        ("observations", "idx_trace_id", "bloom_filter(0.001)"),
        ("scores", "idx_id", "bloom_filter(0.001)"),
        ("scores", "idx_project_trace_observation", "bloom_filter(0.001)"),
        ("traces", "idx_id", "bloom_filter(0.001)"),
        ("traces", "idx_res_metadata_key", "bloom_filter(0.01)"),
        ("traces", "idx_res_metadata_value", "bloom_filter(0.01)"),
        ("traces", "idx_session_id", "bloom_filter()"),
        ("traces", "idx_user_id", "bloom_filter()"),
    ]
    columns = await ch.query(
        "SELECT table, name, type, default_expression, compression_codec FROM system.columns"
        " WHERE database = {db:String} AND name IN ('environment', 'total_cost', 'cost_details', 'input', 'comment')"
        " ORDER BY table, name",
        {"db": ch.database},
    )
    assert [tuple(c.values())[1:] for c in columns if c["table"] == "observations"] == [
        ("cost_details", "Map(LowCardinality(String), Decimal(18, 12))", "", ""),
        ("environment", "LowCardinality(String)", "'default'", ""),
        ("input", "Nullable(String)", "", "CODEC(ZSTD(3))"),
        ("total_cost", "Nullable(Decimal(18, 12))", "", ""),
    ]
    assert [tuple(c.values())[1:] for c in columns if c["table"] == "scores"] == [
        ("comment", "Nullable(String)", "", "CODEC(ZSTD(1))"),
        ("environment", "LowCardinality(String)", "'default'", ""),
    ]


# --- round trip -----------------------------------------------------------------------------


async def _read_back(ch: ClickHouse) -> dict[str, list[Row]]:
    await ch.insert("traces", [trace_row(), trace_row(id="trace-2", user_id=None, tags=[], metadata={})])
    await ch.insert("observations", [observation_row(), observation_row(id="obs-2", total_cost=None, cost_details={})])
    await ch.insert("scores", [score_row()])
    return {
        table: await ch.query(
            f"SELECT * FROM {table} FINAL WHERE project_id = {{p:String}} ORDER BY id", {"p": "project-1"}
        )
        for table in ("traces", "observations", "scores")
    }


async def test_both_backends_read_back_identical_python_values(both: tuple[ClickHouse, ClickHouse]) -> None:
    embedded, server = both
    from_chdb = await _read_back(embedded)
    from_http = await _read_back(server)
    assert from_chdb == from_http
    assert repr(from_chdb) == repr(from_http)  # same types too: Decimal scale, tzinfo, bool vs int

    trace, trace_2 = from_chdb["traces"]
    assert trace == trace_row()
    assert type(trace["public"]) is bool and type(trace["is_deleted"]) is int
    assert trace["timestamp"].tzinfo is UTC and trace["timestamp"].microsecond == 345000
    assert (trace_2["user_id"], trace_2["tags"], trace_2["metadata"]) == (None, [], {})

    obs, obs_2 = from_chdb["observations"]
    assert obs["cost_details"] == {
        "input": Decimal("0.000001234567"),
        "output": Decimal("0.1"),
        "total": Decimal("1.123456789012"),  # cut to 12 digits, not rounded
    }
    assert repr(obs["total_cost"]) == "Decimal('1.123456789012')"
    assert obs["usage_details"] == {"input": 10, "output": 20, "total": 30}
    assert obs["end_time"] == T0 + timedelta(milliseconds=1500)
    assert (obs["completion_start_time"], obs["prompt_version"], obs["environment"]) == (None, 3, "default")
    assert (obs_2["total_cost"], obs_2["cost_details"]) == (None, {})

    (score,) = from_chdb["scores"]
    assert score == score_row(environment="default")
    assert type(score["value"]) is float


async def test_omitted_columns_take_their_defaults(migrated: ClickHouse) -> None:
    full = score_row()
    short = {k: v for k, v in score_row(id="score-2").items() if k not in ("created_at", "updated_at", "comment")}
    before = datetime.now(UTC).replace(microsecond=0)
    await migrated.insert("scores", [full, short])
    rows = await migrated.query("SELECT id, comment, created_at, environment FROM scores ORDER BY id")
    assert [(r["id"], r["comment"], r["environment"]) for r in rows] == [
        ("score-1", "good", "default"),
        ("score-2", None, "default"),
    ]
    assert rows[0]["created_at"] == T0
    assert rows[1]["created_at"] >= before


# --- parameters -----------------------------------------------------------------------------


async def test_bound_parameters_carry_any_value(migrated: ClickHouse) -> None:
    nasty = "it's a \"quote\" \\ back\tslash\n' OR 1=1 --"
    await migrated.insert("traces", [trace_row(), trace_row(id="trace-2", name=nasty)])
    rows = await migrated.query(
        "SELECT id, name FROM traces WHERE project_id = {p:String} AND name = {name:String}",
        {"p": "project-1", "name": nasty},
    )
    assert rows == [{"id": "trace-2", "name": nasty}]
    assert await migrated.query("SELECT {v:String} AS v, {n:Nullable(String)} AS n", {"v": nasty, "n": None}) == [
        {"v": nasty, "n": None}
    ]
    rows = await migrated.query(
        "SELECT id FROM traces WHERE id IN {ids:Array(String)} AND timestamp >= {ts:DateTime64(3)} ORDER BY id",
        {"ids": ["trace-1", "x'y"], "ts": T0},
    )
    assert rows == [{"id": "trace-1"}]
    later = await migrated.query("SELECT count() AS n FROM traces WHERE timestamp > {ts:DateTime64(3)}", {"ts": T0})
    assert later == [{"n": 0}]  # the milliseconds of the parameter are kept
    await migrated.command(
        "DELETE FROM traces WHERE project_id = {p:String} AND id = {id:String}", {"p": "project-1", "id": "trace-2"}
    )
    assert await migrated.query("SELECT id FROM traces") == [{"id": "trace-1"}]


# --- errors ---------------------------------------------------------------------------------


async def test_errors_carry_clickhouse_messages(migrated: ClickHouse) -> None:
    with pytest.raises(ClickHouseError, match=r"^Code: 60\. DB::Exception: .*nope.*UNKNOWN_TABLE"):
        await migrated.query("SELECT * FROM nope")
    with pytest.raises(ClickHouseError, match=r"^Code: 62\. DB::Exception: Syntax error"):
        await migrated.command("CREATE TABLE (")
    with pytest.raises(ClickHouseError, match=r"^Code: 457\..*BAD_QUERY_PARAMETER"):
        await migrated.query("SELECT {n:UInt8} AS n", {"n": "not a number"})
    with pytest.raises(ClickHouseError, match=r"Invalid None value in non-Nullable column, column name: `name`"):
        await migrated.insert("traces", [trace_row(name=None)])
    with pytest.raises(ClickHouseError, match=r"No such column colour"):
        await migrated.insert("traces", [trace_row(colour="red")])
    await migrated.ping()
    assert await migrated.query("SELECT count() AS n FROM traces") == [{"n": 0}]


# --- dedup ----------------------------------------------------------------------------------


async def test_final_returns_the_version_with_the_highest_event_ts(migrated: ClickHouse) -> None:
    for name, offset in (("second", 2), ("third", 3), ("first", 1)):  # separate parts, newest in the middle
        await migrated.insert("traces", [trace_row(name=name, event_ts=T0 + timedelta(seconds=offset))])
    rows = await migrated.query(
        "SELECT id, name, event_ts FROM traces FINAL WHERE project_id = {p:String} AND id = {id:String}",
        {"p": "project-1", "id": "trace-1"},
    )
    assert rows == [{"id": "trace-1", "name": "third", "event_ts": T0 + timedelta(seconds=3)}]
