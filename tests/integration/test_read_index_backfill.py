"""Rows written before the read indexes existed (ClickHouse migrations 0007/0008): start-up copies none,
the trace list answers from the tables until the worker's backfill records an index complete, and
then from the index, with the same answers at every step.

Each test builds its own ClickHouse database, up to migration 0006 with rows in it, then the rest,
as an upgrade would, and its own Postgres database for the backfill's row in
`langfuse_aio_background_migrations`. The trace list is read over HTTP from an app on that
ClickHouse (the session's Postgres authenticates). test_read_indexes covers the indexes' reads."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from langfuse_aio.domain.query_params import OrderBy, Page
from langfuse_aio.domain.trace_filters import TraceFilter
from langfuse_aio.jobs.background_migrations import OwnJobs
from langfuse_aio.migrations.background.admin import OWN_TABLE
from langfuse_aio.migrations.background.contract import MigrationContext, State
from langfuse_aio.migrations.background.manager import BackgroundMigrationManager
from langfuse_aio.migrations.background.read_index_backfill import NAME, SCRIPT, ReadIndexBackfill
from langfuse_aio.migrations.background.registry import build_own_migrations
from langfuse_aio.migrations.background.state_store import PostgresStateStore
from langfuse_aio.migrations.clickhouse_apply import RECORD_TABLE, apply_clickhouse_migrations, render
from langfuse_aio.migrations.loader import split_statements
from langfuse_aio.migrations.postgres_apply import apply_postgres_migrations
from langfuse_aio.runtime.resources import Resources
from langfuse_aio.storage.clickhouse import trace_user_queries
from langfuse_aio.storage.clickhouse.base import ClickHouse
from langfuse_aio.storage.clickhouse.chdb_backend import open_chdb
from langfuse_aio.storage.clickhouse.day_cache import DayCache
from langfuse_aio.storage.clickhouse.http_backend import open_http
from langfuse_aio.storage.clickhouse.read_index_state import (
    ALL,
    INDEXES,
    TRACE_USER_INDEX,
    ReadIndexes,
    complete_indexes,
)
from langfuse_aio.web.app import create_app
from tests.factories import TestProject
from tests.support import external, rows
from tests.support.http import api_get
from tests.support.rows import DAY, insert_each, ts
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

Pool = AsyncConnectionPool[Any]
FIRST_0007 = Path(__file__).resolve().parent.parent / "fixtures" / "clickhouse_0007_read_indexes_first_release.sql"
# alice's traces as GET /traces?userId=alice shows them: (id, name, observations, scores, totalCost)
ALICE = [
    ("t-a1", "t", ["o-1", "o-2"], ["s-1"], 0.5),
    ("t-a3", "renamed", [], ["s-3"], 0.0),
    ("t-a2", "t", ["o-3", "o-4"], ["s-2"], 2.0),
    ("t-a4", "t", ["o-5"], [], 0.0),
]
ALICE_IDS = [t[0] for t in ALICE]
# GET /traces/t-a1: its observations by start time, its live score (s-del is deleted), its cost;
# and GET /observations?traceId=t-a1 (newest first) with its total
A1_DETAIL = (["o-1", "o-2"], ["s-1"], 0.5, ["o-2", "o-1"], 2)


# --- stores -----------------------------------------------------------------------------------------


@pytest.fixture
async def ch(resources: Resources) -> AsyncIterator[ClickHouse]:
    """A new database on the suite's ClickHouse (chDB in process, or its HTTP server)."""
    settings, database = resources.settings, f"t_{uuid.uuid4().hex[:12]}"
    if settings.clickhouse.url is None:
        backend: ClickHouse = await open_chdb(settings.data_dir / "clickhouse", database)
    else:
        backend = await open_http(settings.clickhouse.url, settings.clickhouse.user, settings.clickhouse.password,
                                  database)
    yield backend
    await backend.command(f"DROP DATABASE IF EXISTS {database}")
    await backend.close()


@pytest.fixture
async def pg() -> AsyncIterator[Pool]:
    """A throwaway Postgres database with our schema: the backfill's seeded row, not yet run."""
    with external.scratch_database() as url:
        pool: Pool = AsyncConnectionPool(url, min_size=1, max_size=4, open=False, kwargs={"autocommit": True})
        await pool.open(wait=True)
        async with pool.connection() as conn:
            await apply_postgres_migrations(conn)
        yield pool
        await pool.close()


async def seed_then_migrate(ch: ClickHouse, p: str) -> None:
    """The schema of before 0007 with rows in three months, then the remaining migrations."""
    assert await apply_clickhouse_migrations(ch, cluster=None, until=6) == [1, 2, 3, 4, 5, 6]
    await insert_rows(ch, p)
    assert await apply_clickhouse_migrations(ch, cluster=None) == [7, 8, 9]


async def insert_rows(ch: ClickHouse, p: str) -> None:
    """One insert per table, and one per later version (an insert would collapse versions it holds)."""
    gone = rows.trace(p, "t-gone", user_id="alice", timestamp=ts(60))
    a3 = rows.trace(p, "t-a3", user_id="alice", timestamp=ts(0) - 40 * DAY)
    await ch.insert("traces", [
        rows.trace(p, "t-a1", user_id="alice", timestamp=ts(0) - 30 * DAY),
        rows.trace(p, "t-a2", user_id="alice", timestamp=ts(0) - 60 * DAY),
        a3, rows.trace(p, "t-a4", user_id="alice", timestamp=ts(0) - 70 * DAY),
        rows.trace(p, "t-b1", user_id="bob", timestamp=ts(0)), rows.trace(p, "t-none", timestamp=ts(10)), gone,
    ])
    await insert_each(ch, "traces", a3 | {"name": "renamed", "event_ts": ts(5)}, rows.tombstone(gone, ts(9)))
    o3 = rows.observation(p, "o-3", "t-a2", start_time=ts(1) - 60 * DAY, total_cost=Decimal("1"))
    await ch.insert("observations", [
        rows.observation(p, "o-1", "t-a1", start_time=ts(1) - 30 * DAY, total_cost=Decimal("0.5")),
        rows.observation(p, "o-2", "t-a1", type="GENERATION", start_time=ts(2) - 30 * DAY),
        o3, rows.observation(p, "o-4", "t-a2", start_time=ts(2) - 60 * DAY),
        rows.observation(p, "o-5", "t-a4", start_time=ts(1) - 70 * DAY),
        rows.observation(p, "o-9", "t-b1", start_time=ts(1)),
    ])
    await insert_each(ch, "observations", o3 | {"total_cost": Decimal("2"), "event_ts": ts(3)})
    s_del = rows.score(p, "s-del", "t-a1", timestamp=ts(3) - 30 * DAY)
    await ch.insert("scores", [
        rows.score(p, "s-1", "t-a1", timestamp=ts(2) - 30 * DAY),
        rows.score(p, "s-2", "t-a2", timestamp=ts(2) - 60 * DAY),
        rows.score(p, "s-3", "t-a3", timestamp=ts(2) - 40 * DAY),
        s_del,
    ])
    await insert_each(ch, "scores", rows.tombstone(s_del, ts(4)))


# --- reads ------------------------------------------------------------------------------------------


async def alice_list(resources: Resources, ch: ClickHouse, project: TestProject) -> list[tuple[Any, ...]]:
    """GET /traces?userId=alice from a new app on `ch` (so it asks afresh which indexes are complete)."""
    client = create_app(dataclasses.replace(resources, clickhouse=ch)).test_client()
    status, body = await api_get(client, project, "/api/public/traces", {"userId": "alice"})
    assert status == 200, body
    assert body["meta"]["totalItems"] == len(body["data"])
    return [(t["id"], t["name"], sorted(t["observations"]), t["scores"], t["totalCost"]) for t in body["data"]]


async def a1_detail(resources: Resources, ch: ClickHouse, project: TestProject) -> tuple[Any, ...]:
    """GET /traces/t-a1 and /observations?traceId=t-a1 from a new app on `ch` (see A1_DETAIL)."""
    client = create_app(dataclasses.replace(resources, clickhouse=ch)).test_client()
    status, body = await api_get(client, project, "/api/public/traces/t-a1", {})
    assert status == 200, body
    status, listed = await api_get(client, project, "/api/public/observations", {"traceId": "t-a1"})
    assert status == 200, listed
    return ([o["id"] for o in body["observations"]], [s["id"] for s in body["scores"]], body["totalCost"],
            [o["id"] for o in listed["data"]], listed["meta"]["totalItems"])


async def index_only(ch: ClickHouse, project: TestProject) -> list[str]:
    """alice's trace ids as trace_user_index alone holds them."""
    found, _ = await trace_user_queries.list_by_user(ch, TraceFilter(user_id="alice"), OrderBy("timestamp", True),
                                                     Page(page=1, limit=50), project.id, cache=DayCache())
    return [str(r["id"]) for r in found]


async def index_rows(ch: ClickHouse, indexes: tuple[str, ...] = INDEXES) -> dict[str, tuple[int, int]]:
    """Per index: (stored rows, rows after FINAL)."""
    counts = {}
    for index in indexes:
        stored = await ch.query(f"SELECT count() AS n FROM {index}")
        final = await ch.query(f"SELECT count() AS n FROM {index} FINAL")
        counts[index] = (int(stored[0]["n"]), int(final[0]["n"]))
    return counts


# --- the job's row ----------------------------------------------------------------------------------


async def backfill_row(pg: Pool) -> dict[str, Any]:
    async with pg.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(f"SELECT * FROM {OWN_TABLE} WHERE name = %s", (NAME,))
        found = await cur.fetchone()
    assert found is not None
    return found


class Interrupted:
    """The backfill row's StateStore, stopping the run at its `at`-th save: by setting `abort` after
    the save (a shutdown), or by raising before it (a kill after a chunk's insert, before its cursor)."""

    def __init__(self, inner: PostgresStateStore, at: int, *, abort: asyncio.Event | None = None) -> None:
        self.inner, self.at, self.abort, self.saves = inner, at, abort, 0

    async def load(self) -> State:
        return await self.inner.load()

    async def save(self, updates: Mapping[str, Any]) -> None:
        self.saves += 1
        if self.saves == self.at and self.abort is None:
            raise RuntimeError("killed")
        await self.inner.save(updates)
        if self.saves == self.at and self.abort is not None:
            self.abort.set()


async def store(pg: Pool) -> PostgresStateStore:
    return PostgresStateStore(pg, str((await backfill_row(pg))["id"]), OWN_TABLE)


# --- tests ------------------------------------------------------------------------------------------


async def test_migrate_copies_nothing_reads_fall_back_and_the_worker_backfill_fills_the_indexes(
    resources: Resources, ch: ClickHouse, pg: Pool, project: TestProject
) -> None:
    await seed_then_migrate(ch, project.id)
    assert await index_rows(ch) == dict.fromkeys(INDEXES, (0, 0))  # start-up copied nothing
    assert await complete_indexes(ch) == frozenset()
    assert await index_only(ch, project) == []  # what the index alone would answer
    assert await alice_list(resources, ch, project) == ALICE  # the tables answer meanwhile
    assert await a1_detail(resources, ch, project) == A1_DETAIL

    async with pg.connection() as conn:  # small chunks: several per table
        await conn.execute(f"UPDATE {OWN_TABLE} SET args = %s WHERE name = %s", (Jsonb({"chunkRows": 2}), NAME))
    manager = BackgroundMigrationManager(
        pg, lambda: build_own_migrations(MigrationContext(resources.settings, pg, ch)), table=OWN_TABLE)
    assert await manager.run_until_idle() == [NAME]

    row = await backfill_row(pg)
    assert row["finished_at"] is not None and row["failed_at"] is None
    assert row["state"]["rowsDone"] == row["state"]["rowsTotal"] == 9 + 7 + 5  # traces, observations, scores
    assert await complete_indexes(ch) == ALL
    assert await index_only(ch, project) == ALICE_IDS
    assert await alice_list(resources, ch, project) == ALICE  # now through the indexes
    assert await a1_detail(resources, ch, project) == A1_DETAIL  # and the copies


async def test_a_killed_or_aborted_backfill_resumes_and_reads_stay_exact(
    resources: Resources, ch: ClickHouse, pg: Pool, project: TestProject
) -> None:
    await seed_then_migrate(ch, project.id)
    job, args = ReadIndexBackfill(ch), {"chunkRows": 2}

    killed = Interrupted(await store(pg), at=3)  # save 1: the start; 2: the first chunk; 3: never made
    with pytest.raises(RuntimeError, match="killed"):
        await job.run(args, killed, asyncio.Event())
    cursor = (await backfill_row(pg))["state"]["trace_user_index"]
    assert await complete_indexes(ch) == frozenset()
    partial = await index_only(ch, project)
    assert partial and partial != ALICE_IDS  # the index holds some of alice's traces
    assert await alice_list(resources, ch, project) == ALICE  # but the tables answer

    abort = asyncio.Event()
    await job.run(args, Interrupted(await store(pg), at=3, abort=abort), abort)  # a shutdown after a chunk
    state = (await backfill_row(pg))["state"]
    assert state["trace_user_index"] != cursor and await complete_indexes(ch) == frozenset()
    assert await alice_list(resources, ch, project) == ALICE

    await job.run(args, await store(pg), asyncio.Event())
    assert await complete_indexes(ch) == ALL
    assert await alice_list(resources, ch, project) == ALICE
    # the chunk inserted before the kill but never recorded was copied again: FINAL keeps one of each twin
    assert {index: final for index, (_, final) in (await index_rows(ch)).items()} == {
        "trace_user_index": 5, "observations_by_trace": 6, "scores_by_trace": 3}


async def test_an_install_that_applied_the_first_0007_copies_only_the_0009_copies(
    resources: Resources, ch: ClickHouse, pg: Pool, project: TestProject
) -> None:
    assert await apply_clickhouse_migrations(ch, cluster=None, until=6) == [1, 2, 3, 4, 5, 6]
    await insert_rows(ch, project.id)
    for statement in split_statements(render(FIRST_0007.read_text(), cluster=None)):  # its INSERTs included
        await ch.command(statement)
    await ch.insert(RECORD_TABLE, [{"version": 7, "name": "read_indexes", "applied_at": ts(0)}])
    before = await index_rows(ch, (TRACE_USER_INDEX,))
    assert before["trace_user_index"][1] == 5

    assert await apply_clickhouse_migrations(ch, cluster=None) == [8, 9]
    assert await complete_indexes(ch) == {TRACE_USER_INDEX}  # 0009's copies wait for the backfill
    assert await alice_list(resources, ch, project) == ALICE
    assert await a1_detail(resources, ch, project) == A1_DETAIL
    await ReadIndexBackfill(ch).run({}, await store(pg), asyncio.Event())
    assert await complete_indexes(ch) == ALL
    assert (await index_rows(ch))[TRACE_USER_INDEX] == before[TRACE_USER_INDEX]  # not copied again
    assert (await backfill_row(pg))["state"]["rowsDone"] == 7 + 5  # observations and scores only
    assert await alice_list(resources, ch, project) == ALICE
    assert await a1_detail(resources, ch, project) == A1_DETAIL
    await job_runs_with_nothing_to_do(ch, pg, state=True)


async def job_runs_with_nothing_to_do(ch: ClickHouse, pg: Pool, *, state: bool = False) -> None:
    job = ReadIndexBackfill(ch)
    assert await job.validate({}) is None
    before = (await backfill_row(pg))["state"]
    await job.run({}, await store(pg), asyncio.Event())
    assert (await backfill_row(pg))["state"] == (before if state else {})


async def test_a_fresh_install_is_complete_at_once_and_readers_cache_it(ch: ClickHouse, pg: Pool) -> None:
    assert await apply_clickhouse_migrations(ch, cluster=None) == [1, 2, 3, 4, 5, 6, 7, 8, 9]
    readers = ReadIndexes()
    assert await readers.complete(ch) == ALL
    await job_runs_with_nothing_to_do(ch, pg)
    await ch.command("DROP TABLE langfuse_aio_read_index_state")
    assert await readers.complete(ch) == ALL  # complete for good: not asked again
    assert await ReadIndexes().complete(ch) == frozenset()  # unreadable state: the tables answer


async def test_readers_see_an_index_complete_within_their_recheck_interval(
    ch: ClickHouse, project: TestProject
) -> None:
    await seed_then_migrate(ch, project.id)
    now = [0.0]
    readers = ReadIndexes(recheck_seconds=10, clock=lambda: now[0])
    assert await readers.complete(ch) == frozenset()
    await ReadIndexBackfill(ch).run({}, _NoState(), asyncio.Event())
    assert await readers.complete(ch) == frozenset()  # asked 0 s ago
    now[0] = 10.0
    assert await readers.complete(ch) == ALL


class _NoState:
    """A StateStore that keeps nothing (a run from the start)."""

    async def load(self) -> State:
        return {}

    async def save(self, updates: Mapping[str, Any]) -> None:
        return None


async def test_the_worker_rearms_a_finished_backfill_when_its_clickhouse_is_not_complete(
    resources: Resources, ch: ClickHouse, pg: Pool, project: TestProject
) -> None:
    """A ClickHouse database replaced under the same Postgres: the finished row runs again."""
    await seed_then_migrate(ch, project.id)
    async with pg.connection() as conn:
        await conn.execute(f"UPDATE {OWN_TABLE} SET finished_at = now(), state = %s WHERE name = %s",
                           (Jsonb({"trace_user_index": {"partition": "999912", "before": None}}), NAME))
    manager = BackgroundMigrationManager(
        pg, lambda: {SCRIPT: ReadIndexBackfill(ch)}, table=OWN_TABLE, heartbeat_seconds=0.05)
    own = OwnJobs(manager, pg, ch)
    assert await own.check() is True  # re-armed (its old cursor cleared), and the loop started

    async def finished() -> bool:
        return (await backfill_row(pg))["finished_at"] is not None and not manager.running

    await eventually(finished, what="the re-armed backfill finished")
    assert await complete_indexes(ch) == ALL
    assert await index_only(ch, project) == ALICE_IDS  # copied from the start: the old cursor was cleared
    finished_at = (await backfill_row(pg))["finished_at"]
    await own.check()  # complete now: nothing re-armed
    await eventually(lambda: _idle(manager), what="the manager's loop ended")
    assert (await backfill_row(pg))["finished_at"] == finished_at
    await manager.stop()


async def _idle(manager: BackgroundMigrationManager) -> bool:
    return not manager.running


async def test_the_userid_list_pages_alike_before_and_after_the_backfill(
    resources: Resources, ch: ClickHouse, project: TestProject
) -> None:
    await seed_then_migrate(ch, project.id)
    client = create_app(dataclasses.replace(resources, clickhouse=ch)).test_client()
    window = {"fromTimestamp": (ts(0) - 65 * DAY).isoformat(), "toTimestamp": (ts(0) - timedelta(days=35)).isoformat()}
    queries = [{"userId": "alice", "limit": 1, "page": n} for n in (1, 2, 4, 5)] + [{"userId": "alice", **window}]
    before = [await api_get(client, project, "/api/public/traces", q) for q in queries]
    await ReadIndexBackfill(ch).run({}, _NoState(), asyncio.Event())
    client = create_app(dataclasses.replace(resources, clickhouse=ch)).test_client()
    after = [await api_get(client, project, "/api/public/traces", q) for q in queries]
    assert after == before
    assert [[t["id"] for t in body["data"]] for _, body in before] == [
        ["t-a1"], ["t-a3"], ["t-a4"], [], ["t-a3", "t-a2"]]
