"""The four background migrations (v2-migration spec §2.4, §2.5) on a Langfuse v2.95 database.

Each test builds a throwaway database from the v2.95 schema and seed fixtures plus
langfuse_v2_95_costs.sql, applies our Postgres migrations, and runs the migrations' run() with the
state kept in the real `background_migrations` row, writing to the suite's ClickHouse. The seed's two
project ids get a per-test suffix, so tests never see each other's ClickHouse rows.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from langfuse_aio.domain.api_views import observation_to_api, score_to_api, trace_to_api_base
from langfuse_aio.migrations.background import copy_to_clickhouse
from langfuse_aio.migrations.background.contract import MigrationContext, State
from langfuse_aio.migrations.background.copy_to_clickhouse import SCRIPTS, CopyToClickHouse
from langfuse_aio.migrations.background.cost_backfill import CostBackfill
from langfuse_aio.migrations.background.registry import build_migrations
from langfuse_aio.migrations.postgres_apply import apply_postgres_migrations
from langfuse_aio.runtime.resources import Resources
from langfuse_aio.settings import Settings
from langfuse_aio.storage.clickhouse.base import ClickHouse, ClickHouseError, Params, Row
from langfuse_aio.storage.postgres.legacy_rows import legacy_rows

pytestmark = pytest.mark.integration

ADMIN_URL = os.environ.get("LANGFUSE_AIO_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SEED_A = "clu1proj000001qw08abcdefgh"
SEED_B = "clv9proj000002ab12ghijklm"
COST_BACKFILL = "addGenerationsCostBackfill"
TRACE_3 = "0f6a8a53-3b1e-4d6c-9a0e-000000000003"


@dataclass
class V2:
    pool: AsyncConnectionPool[Any]
    a: str  # project ids in this test's database
    b: str
    ch: ClickHouse
    settings: Settings


class RowState:
    """The StateStore of one background_migrations row (by script); can set `abort` after n saves."""

    def __init__(self, pool: AsyncConnectionPool[Any], script: str, *, abort: asyncio.Event | None = None,
                 abort_after_saves: int | None = None) -> None:
        self._pool, self._script = pool, script
        self._abort, self._abort_after = abort, abort_after_saves
        self.saves = 0

    async def load(self) -> State:
        async with self._pool.connection() as conn:
            cur = await conn.execute("SELECT state FROM background_migrations WHERE script = %s", (self._script,))
            row = await cur.fetchone()
        assert row is not None
        return dict(row[0])

    async def save(self, updates: Mapping[str, Any]) -> None:
        async with self._pool.connection() as conn:
            await conn.execute("UPDATE background_migrations SET state = state || %s WHERE script = %s",
                               (Jsonb(dict(updates)), self._script))
        self.saves += 1
        if self._abort is not None and self.saves == self._abort_after:
            self._abort.set()


async def set_state(v2: V2, script: str, state: dict[str, Any]) -> None:
    async with v2.pool.connection() as conn:
        await conn.execute("UPDATE background_migrations SET state = %s WHERE script = %s", (Jsonb(state), script))


def fixture_sql(name: str, suffix: str) -> bytes:
    text = (FIXTURES / name).read_text()
    return text.replace(SEED_A, f"{SEED_A}-{suffix}").replace(SEED_B, f"{SEED_B}-{suffix}").encode()


@pytest.fixture
async def v2(resources: Resources) -> AsyncIterator[V2]:
    suffix = secrets.token_hex(4)
    name = f"lfaio_bgmig_{suffix}"
    async with await psycopg.AsyncConnection.connect(ADMIN_URL, autocommit=True) as admin:
        await admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_conninfo(ADMIN_URL, dbname=name)
    try:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            for fixture in ("langfuse_v2_95_schema.sql", "langfuse_v2_95_seed.sql", "langfuse_v2_95_costs.sql"):
                async with conn.transaction():
                    await conn.execute(fixture_sql(fixture, suffix))
            await apply_postgres_migrations(conn)
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(url, min_size=1, max_size=4, open=False,
                                                            kwargs={"autocommit": True})
        await pool.open(wait=True)
        try:
            yield V2(pool, f"{SEED_A}-{suffix}", f"{SEED_B}-{suffix}", resources.clickhouse, resources.settings)
        finally:
            await pool.close()
    finally:
        async with await psycopg.AsyncConnection.connect(ADMIN_URL, autocommit=True) as admin:
            await admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


async def run(v2: V2, script: str, args: Mapping[str, Any] | None = None, *,
              state: RowState | None = None, abort: asyncio.Event | None = None) -> None:
    migration = build_migrations(MigrationContext(settings=v2.settings, pg=v2.pool, clickhouse=v2.ch))[script]
    assert await migration.validate(args or {}) is None
    await migration.run(args or {}, state or RowState(v2.pool, script), abort or asyncio.Event())


async def copy_all(v2: V2, args: Mapping[str, Any] | None = None) -> None:
    await run(v2, COST_BACKFILL)
    for script in SCRIPTS.values():
        await set_state(v2, script, {})
        await run(v2, script, args)


async def stored(v2: V2, table: str, project_id: str) -> list[Row]:
    """Every stored version (no deduplication), so a row written twice shows twice."""
    return await v2.ch.query(f"SELECT * FROM {table} WHERE project_id = {{p:String}} ORDER BY id", {"p": project_id})


def by_id(rows: list[Row]) -> dict[str, Row]:
    return {row["id"]: row for row in rows}


async def pg_costs(v2: V2) -> dict[str, tuple[Any, ...]]:
    async with v2.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT id, calculated_input_cost, calculated_output_cost, calculated_total_cost, internal_model_id"
            " FROM observations")
        return {row[0]: tuple(row[1:]) for row in await cur.fetchall()}


def d(text: str) -> Decimal:
    return Decimal(text)


# --- cost backfill --------------------------------------------------------------------------------


async def test_cost_backfill_prices_the_spec_examples_and_characters(v2: V2) -> None:
    await run(v2, COST_BACKFILL, {"batchSize": 3})

    costs = await pg_costs(v2)
    assert costs["cost-o-a"] == (d("0.1"), d("0.02"), d("0.12"), "clm00gpt4project0000000001")
    assert costs["cost-o-b"] == (d("0.0005"), d("0.00015"), d("0.00065"), "clm00gpt35t000000000000002")
    assert costs["cost-o-c"] == (d("0.0015"), d("0.0002"), d("0.0017"), "clm00gpt35t000000000000003")
    assert costs["cost-o-d"] == (d("0.5"), None, None, "clm00gpt4project0000000001")
    assert costs["cost-o-e"] == (None, None, d("0.0001"), "clm00ada002000000000000001")
    # CHARACTERS unit: 7 and 5 characters at the Gemini prices
    assert costs["obs-gen-0005"] == (d("0.0000021875"), d("0.00000625"), d("0.0000084375"),
                                     "clm00gemini15pro0000000001")
    # user-provided costs are copied 1:1 (the project model matches too)
    assert costs["obs-gen-0004"][:3] == (d("0.000493827156048938271560493600"),
                                         d("0.000296296296329629629632962963"),
                                         d("0.000790123452378567901193456563"))
    # token-only generation without an internal model and a span: not touched
    assert costs["cost-tokens-only"] == (None, None, None, None)
    assert costs["obs-span-0001"] == (None, None, None, None)

    state = await RowState(v2.pool, COST_BACKFILL).load()
    assert state["rowsDone"] == 8  # o_a..o_e, obs-gen-0002, -0004, -0005
    assert state["cursorId"] == "cost-o-c" and state["maxDate"] == "2023-07-01T12:00:00.000Z"


async def test_cost_backfill_resumes_from_its_saved_cursor(v2: V2) -> None:
    await run(v2, COST_BACKFILL, {"batchSize": 2, "maxRowsToProcess": 2})
    costs = await pg_costs(v2)
    assert costs["cost-o-e"][2] == d("0.0001")  # the two newest: o_e (09:10) and o_d (09:05)
    assert costs["cost-o-a"] == (None, None, None, None)
    assert (await RowState(v2.pool, COST_BACKFILL).load())["cursorId"] == "cost-o-d"

    await run(v2, COST_BACKFILL, {"batchSize": 2})
    costs = await pg_costs(v2)
    assert costs["cost-o-a"][2] == d("0.12") and costs["cost-o-c"][2] == d("0.0017")
    assert (await RowState(v2.pool, COST_BACKFILL).load())["rowsDone"] == 8


# --- copies ---------------------------------------------------------------------------------------


async def test_copies_land_every_field_as_our_read_api_shows_it(v2: V2) -> None:
    await copy_all(v2)
    traces = by_id(await stored(v2, "traces", v2.a))
    assert len(traces) == 5

    t1 = traces["0f6a8a53-3b1e-4d6c-9a0e-000000000001"]
    assert t1["metadata"] == {"env": "prod", "customer": '{"id":7,"tier":"gold"}'}
    assert t1["event_ts"] == t1["timestamp"] == datetime(2024, 4, 30, 23, 59, 59, 999000, tzinfo=UTC)
    assert t1["environment"] == "default" and t1["tags"] == ["prod", "chat"] and t1["bookmarked"] is True
    api = trace_to_api_base(t1)
    assert api["input"] == {"messages": [{"role": "user", "content": "Grüß Gott! Wie spät ist es? 🙂"}]}
    assert api["output"] == {"role": "assistant", "content": "Es ist 23:59."}
    assert api["createdAt"] == "2024-05-03T12:00:00.000Z" and api["release"] == "v1.4.2"

    t2 = trace_to_api_base(traces["0f6a8a53-3b1e-4d6c-9a0e-000000000002"])  # array metadata, string input
    assert t2["metadata"] == {"metadata": ["metadata", "as", "an", "array", 1, True, None]}
    assert t2["input"] == "plain string input" and t2["output"] == 42
    t3 = traces[TRACE_3]
    assert t3["metadata"] == {"metadata": "metadata that is just a string"}
    assert t3["session_id"] == "session-2024-11-20-user-42" and t3["public"] is True
    t4 = traces["0f6a8a53-3b1e-4d6c-9a0e-000000000004"]
    assert (t4["name"], t4["tags"], t4["metadata"], t4["input"]) == ("", [], {}, None)
    edge = traces["edge-trace-0001"]  # null/number/bool metadata values, falsy input and output kept
    assert edge["metadata"] == {"gone": "null", "ratio": "1.5", "flag": "true", "text": "x"}
    assert trace_to_api_base(edge)["metadata"] == {"gone": None, "ratio": 1.5, "flag": True, "text": "x"}
    assert (edge["input"], edge["output"]) == ("0", '""')

    observations = by_id(await stored(v2, "observations", v2.a))
    assert len(observations) == 11
    gen = observation_to_api(observations["obs-gen-0002"])
    assert gen["promptName"] == "exact-answer" and gen["promptVersion"] == 3
    assert gen["modelParameters"] == {"temperature": 0.7, "max_tokens": 256, "stop": ["\n\n"]}
    assert gen["usage"] == {"unit": "TOKENS", "input": 1234, "output": 17, "total": 1251}
    assert (gen["calculatedInputCost"], gen["calculatedOutputCost"], gen["calculatedTotalCost"]) == (
        0.00617, 0.000255, 0.006425)
    assert gen["model"] == "gpt-4o-2024-08-06" and gen["modelId"] == "clm00gpt4o0000000000000001"
    assert gen["completionStartTime"] == "2024-11-20T10:00:02.350Z" and gen["version"] == "prompt-v3"
    assert observations["obs-gen-0002"]["event_ts"] == observations["obs-gen-0002"]["start_time"]

    provided = observations["obs-gen-0004"]  # user-provided costs: both maps, cut to Decimal64(12)
    assert provided["provided_cost_details"] == {
        "input": d("0.000493827156"), "output": d("0.000296296296"), "total": d("0.000790123452")}
    assert provided["cost_details"] == provided["provided_cost_details"]
    assert provided["total_cost"] == d("0.000790123452") and provided["level"] == "ERROR"
    assert provided["metadata"] == {"attempt": "2"}

    tokens_only = observation_to_api(observations["cost-tokens-only"])
    assert tokens_only["usage"] == {"unit": "TOKENS", "input": 50, "output": 20, "total": 70}
    assert tokens_only["costDetails"] == {} and tokens_only["calculatedTotalCost"] is None
    o_d = observations["cost-o-d"]
    assert o_d["cost_details"] == {"input": d("0.5")} and o_d["total_cost"] is None
    assert observations["cost-o-e"]["cost_details"] == {"total": d("0.0001")}

    orphan = observations["obs-orphan-0006"]
    assert (orphan["trace_id"], orphan["level"], orphan["input"]) == ("", "DEBUG", None)
    event = observations["obs-event-0003"]
    assert event["metadata"] == {"metadata": "event metadata as string"} and event["status_message"] == "cache cold"
    assert observations["obs-span-0001"]["usage_details"] == {"input": 0, "output": 0, "total": 0}

    characters = observation_to_api(by_id(await stored(v2, "observations", v2.b))["obs-gen-0005"])
    assert characters["calculatedTotalCost"] == 0.0000084375 and characters["input"] == "Bonjour"

    scores = by_id(await stored(v2, "scores", v2.a))
    assert len(scores) == 5
    assert score_to_api(scores["score-0001"])["value"] == 0.87
    tone = score_to_api(scores["score-0002"])
    assert (tone["dataType"], tone["stringValue"], tone["source"], tone["queueId"]) == (
        "CATEGORICAL", "friendly", "ANNOTATION", "clqu00000001qw08fffffffff")
    assert tone["authorUserId"] == "clu1admin0000qw08x1y2z3a4" and tone["configId"] == "clsc00000001qw08ddddddddd"
    assert score_to_api(scores["score-0003"])["stringValue"] == "False"
    assert scores["score-edge-0006"]["value"] == 0.0 and scores["score-edge-0006"]["metadata"] == {}
    assert scores["score-0004"]["event_ts"] == scores["score-0004"]["timestamp"]


async def test_copies_keep_each_row_in_its_project(v2: V2) -> None:
    await copy_all(v2)
    for table, in_a, in_b in (("traces", 5, 1), ("observations", 11, 1), ("scores", 5, 1)):
        rows_a, rows_b = await stored(v2, table, v2.a), await stored(v2, table, v2.b)
        assert (len(rows_a), len(rows_b)) == (in_a, in_b), table
    assert [r["id"] for r in await stored(v2, "traces", v2.b)] == ["b8c1d7e2-aaaa-4bbb-8ccc-000000000005"]
    states = {s: await RowState(v2.pool, s).load() for s in SCRIPTS.values()}
    assert [states[s]["rowsDone"] for s in SCRIPTS.values()] == [6, 12, 6]
    assert all(set(st) >= {"maxDate", "cursorId", "rowsDone", "rowsTotal", "startedAt", "updatedAt"}
               for st in states.values())


async def plateau(v2: V2, count: int, created_at: datetime = datetime(2023, 11, 10)) -> None:
    """`count` observations in project B sharing one created_at (as v2's 20231110 migration left them)."""
    async with v2.pool.connection() as conn:
        await conn.execute(
            "INSERT INTO observations (id, type, trace_id, project_id, start_time, created_at, updated_at)"
            " SELECT 'plateau-' || lpad(n::text, 3, '0'), 'SPAN', 't', %s, %s + n * interval '1 second', %s, %s"
            " FROM generate_series(1, %s) n",
            (v2.b, datetime(2023, 1, 1), created_at, created_at, count))


async def test_created_at_plateau_larger_than_batch_is_copied_once_fixes_upstream_7117(
    v2: V2, monkeypatch: pytest.MonkeyPatch
) -> None:
    await plateau(v2, 23)
    monkeypatch.setattr(copy_to_clickhouse, "ROWS_PER_CURSOR", 10)  # re-declare the cursor inside the plateau
    script = SCRIPTS["observations"]
    await set_state(v2, script, {})
    await asyncio.wait_for(run(v2, script, {"batchSize": 5}), timeout=60)

    rows = await stored(v2, "observations", v2.b)
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)) == 24  # 23 on the plateau + obs-gen-0005, no row written twice
    assert (await RowState(v2.pool, script).load())["rowsDone"] == 11 + 24


async def test_abort_mid_run_then_run_again_resumes_from_saved_cursor_without_duplicates(v2: V2) -> None:
    await plateau(v2, 20, created_at=datetime(2025, 1, 1))  # the newest rows: the first batches
    script = SCRIPTS["observations"]
    await set_state(v2, script, {})
    abort = asyncio.Event()
    # save 1 is the starting cursor; saves 2 and 3 follow the first two batches of 4
    await run(v2, script, {"batchSize": 4}, state=RowState(v2.pool, script, abort=abort, abort_after_saves=3),
              abort=abort)
    state = await RowState(v2.pool, script).load()
    assert state["rowsDone"] == 8
    copied_first = {r["id"] for r in await stored(v2, "observations", v2.a) + await stored(v2, "observations", v2.b)}
    assert len(copied_first) == 8
    assert state["cursorId"] == min(copied_first)  # newest first: the last row written is the cursor

    await run(v2, script, {"batchSize": 4})
    rows = await stored(v2, "observations", v2.a) + await stored(v2, "observations", v2.b)
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)) == 11 + 1 + 20
    final = await RowState(v2.pool, script).load()
    assert final["rowsDone"] == 32 and final["startedAt"] == state["startedAt"]


async def test_copy_resumes_from_upstream_langfuse_state(v2: V2) -> None:
    # the seed's traces row holds upstream's {"maxDate": "2024-11-21T08:00:00.100Z"}: inclusive
    await run(v2, SCRIPTS["traces"])
    ids = {r["id"] for r in await stored(v2, "traces", v2.a) + await stored(v2, "traces", v2.b)}
    assert "edge-trace-0001" not in ids  # created 2024-11-22, after upstream's cursor
    assert "b8c1d7e2-aaaa-4bbb-8ccc-000000000005" in ids  # created exactly at the cursor
    assert len(ids) == 5


async def test_args_max_date_and_observation_state_suffix(v2: V2) -> None:
    script = SCRIPTS["observations"]
    await set_state(v2, script, {})
    await run(v2, script, {"maxDate": "2024-01-01T00:00:00Z", "stateSuffix": "_old"})
    ids = {r["id"] for r in await stored(v2, "observations", v2.a)}
    assert ids == {"obs-orphan-0006", "cost-o-c"}
    state = await RowState(v2.pool, script).load()
    assert state["rowsDone_old"] == 2 and state["cursorId_old"] == "cost-o-c" and "maxDate" not in state


class _ElsewhereClickHouse:
    """The suite's ClickHouse, but looking for tables in a database that does not exist."""

    database = "no_such_database"

    def __init__(self, inner: ClickHouse) -> None:
        self._inner = inner

    async def query(self, sql_text: str, params: Params | None = None) -> list[Row]:
        return await self._inner.query(sql_text, params)


async def test_copy_validation_waits_for_the_clickhouse_table_then_fails(v2: V2) -> None:
    assert await CopyToClickHouse(v2.pool, v2.ch, "scores").validate({}) is None
    missing = CopyToClickHouse(v2.pool, _ElsewhereClickHouse(v2.ch), "scores",  # type: ignore[arg-type]
                               check_retries=2, check_wait_seconds=0.01)
    assert await missing.validate({}) == "ClickHouse scores table does not exist"
    assert await CopyToClickHouse(v2.pool, v2.ch, "traces").validate({"batchSize": 0}) is not None
    assert await CostBackfill(v2.pool).validate({"batchSize": "many"}) is not None


async def test_legacy_rows_are_the_rows_the_copy_writes(v2: V2) -> None:
    await copy_all(v2)
    written = by_id(await stored(v2, "observations", v2.a))
    found = await legacy_rows(v2.pool, "observations", v2.a, ["obs-gen-0002", "obs-gen-0004", "nope"])
    assert set(found) == {"obs-gen-0002", "obs-gen-0004"}
    for obs_id, row in found.items():
        assert observation_to_api(row) == observation_to_api(written[obs_id])
    assert await legacy_rows(v2.pool, "traces", v2.b, [TRACE_3]) == {}  # another project's trace

    async with v2.pool.connection() as conn:
        await conn.execute("DROP TABLE prompts")
    without_prompts = await legacy_rows(v2.pool, "observations", v2.a, ["obs-gen-0002"])
    assert without_prompts["obs-gen-0002"]["prompt_name"] is None
    scores = await legacy_rows(v2.pool, "scores", v2.a, ["score-0002"])
    assert score_to_api(scores["score-0002"]) == score_to_api(by_id(await stored(v2, "scores", v2.a))["score-0002"])


# --- the SQL conversion (copy_sql) against the Python one (domain.v2_rows) ---------------------------

TRICKY_METADATA = (  # what SQL must render as metadata_map does, or hand to it (non-integral numbers)
    '{"s": "a, b: c", "q": "say \\"hi\\" \\\\ \\n \\t é ☃ \\u0001", "n": 12, "big": 123456789012345678901234,'
    ' "neg": -7, "t": true, "f": false, "z": null, "o": {"k": [1, "x, y", {"d": "e: f"}], "e": {}}, "a": []}',
    '{"f": 1.50, "whole": 2.0, "tiny": 1e-7, "huge": 1e21, "nested": {"x": [0.1, 2]}, "s": "1.5"}',
    '"top-level string, with: separators"', '""', '0', '42', '3.25', 'true', 'false', 'null',
    '[1, "two", {"three": 3.0}]', '{"huge": 1e21, "n": [1e300]}',
    '{"x": 1E2}', '["a", [], {}]', '{}', '{"emptyKey": "", "": "empty name"}',
)


async def add_tricky_rows(v2: V2) -> None:
    async with v2.pool.connection() as conn:
        for i, metadata in enumerate(TRICKY_METADATA):
            await conn.execute(
                "INSERT INTO traces (id, project_id, metadata, tags, input, output, created_at, timestamp)"
                " VALUES (%s, %s, %s::jsonb, %s, %s::jsonb, 'null'::jsonb, '2024-03-01 10:00:00'::timestamp"
                " + %s * interval '1 ms', '2024-03-01 09:00:00.5')",
                (f"tricky-trace-{i}", v2.a, metadata, ["x", 'q"uote'], metadata, i))
            await conn.execute(
                "INSERT INTO observations (id, project_id, type, metadata, \"modelParameters\", input_cost,"
                " calculated_total_cost, prompt_tokens, start_time, end_time)"
                " VALUES (%s, %s, 'SPAN', %s::jsonb, %s::jsonb, %s, %s, -5, '2024-03-01 00:00:00.999',"
                " '2024-03-01 00:00:01')",
                (f"tricky-obs-{i}", v2.a, metadata, metadata, Decimal("98765.4321098765432109") * (i % 3),
                 Decimal("1234567.5") if i % 2 else Decimal("-0.0000000000009")))


async def test_sql_conversion_writes_exactly_the_rows_of_the_python_conversion(v2: V2) -> None:
    """Every fixture row (and tricky metadata) copied through SQL + JSONEachRow reads back from ClickHouse
    exactly as the same row converted by domain.v2_rows and written with insert()."""
    await add_tricky_rows(v2)
    await copy_all(v2)  # the SQL path
    for table in ("traces", "observations", "scores"):
        for project in (v2.a, v2.b):
            copied = by_id(await stored(v2, table, project))
            async with v2.pool.connection() as conn:
                cur = await conn.execute(
                    sql.SQL("SELECT id FROM {} WHERE project_id = %s").format(sql.Identifier(table)), (project,))
                ids = [str(row[0]) for row in await cur.fetchall()]
            assert ids and set(copied) == set(ids), (table, project)
            reference = await legacy_rows(v2.pool, table, project, ids)  # type: ignore[arg-type]
            await v2.ch.insert(table, [row | {"project_id": f"{project}-py"} for row in reference.values()])
            python = by_id(await stored(v2, table, f"{project}-py"))
            for row_id, row in copied.items():
                assert python[row_id] | {"project_id": project} == row, (table, row_id)


async def test_insert_formatted_reads_utc_text_and_refuses_unsafe_names(v2: V2) -> None:
    line = (b'["raw-1", "2024-02-29T23:59:59.123", "' + v2.a.encode() + b'", {"k": "v"}, "2024-02-29 23:59:59.123",'
            b' 0]')
    columns = ("id", "timestamp", "project_id", "metadata", "event_ts", "is_deleted")
    await v2.ch.insert_formatted("traces", "JSONCompactEachRow", line, columns)
    row = by_id(await stored(v2, "traces", v2.a))["raw-1"]
    assert row["timestamp"] == row["event_ts"] == datetime(2024, 2, 29, 23, 59, 59, 123000, tzinfo=UTC)
    assert row["metadata"] == {"k": "v"} and row["name"] == "" and row["tags"] == []
    for table, fmt, names in (("traces; DROP TABLE x", "JSONEachRow", ()), ("traces", "Native", ()),
                              ("traces", "JSONEachRow", ("id`",))):
        with pytest.raises(ClickHouseError):
            await v2.ch.insert_formatted(table, fmt, b"{}", names)
