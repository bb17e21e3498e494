"""The background-migration manager on a real Postgres (a throwaway database per test).

The migrations here are small test scripts implementing the contract (counting their runs and
saving a step counter); the `background_migrations` rows, their locks and state are real.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import datetime
from typing import Any

import pytest
import structlog
from arq.worker import Worker
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from langfuse_aio.jobs import background_migrations as jobs_bm
from langfuse_aio.jobs.serialization import job_deserializer, job_serializer
from langfuse_aio.jobs.worker import build_worker, run_until_stopped
from langfuse_aio.migrations.background.admin import retry_migration
from langfuse_aio.migrations.background.contract import BackgroundMigration, StateStore
from langfuse_aio.migrations.background.manager import BackgroundMigrationManager
from langfuse_aio.migrations.postgres_apply import apply_postgres_migrations
from langfuse_aio.runtime.resources import Resources
from langfuse_aio.storage.clickhouse.writer import ClickHouseWriter
from tests.support import external
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

Pool = AsyncConnectionPool[Any]


# --- test scripts and their record -----------------------------------------------------------------


class Record:
    """What the test scripts did: each run's (script, step it started at), and the most at once."""

    def __init__(self) -> None:
        self.runs: list[tuple[str, int]] = []
        self.running = 0
        self.max_running = 0

    def count(self, script: str) -> int:
        return sum(1 for s, _ in self.runs if s == script)


class StepScript:
    """Runs `steps` steps of `step_seconds`, saving the step (and contract progress keys) after each."""

    def __init__(self, name: str, record: Record, *, steps: int = 2, step_seconds: float = 0.01,
                 invalid: str | None = None, error: str | None = None) -> None:
        self.name, self.record, self.steps, self.step_seconds = name, record, steps, step_seconds
        self.invalid, self.error = invalid, error

    async def validate(self, args: Mapping[str, Any]) -> str | None:
        return self.invalid

    async def run(self, args: Mapping[str, Any], state: StateStore, abort: asyncio.Event) -> None:
        step = int((await state.load()).get("step", 0))
        self.record.runs.append((self.name, step))
        self.record.running += 1
        self.record.max_running = max(self.record.max_running, self.record.running)
        try:
            while step < self.steps:
                if abort.is_set():
                    return
                await asyncio.sleep(self.step_seconds)
                step += 1
                await state.save({"step": step, "rowsDone": step * 10, "rowsTotal": self.steps * 10})
            if self.error is not None:
                raise RuntimeError(self.error)
        finally:
            self.record.running -= 1


def registry(*scripts: StepScript) -> dict[str, BackgroundMigration]:
    return {s.name: s for s in scripts}


# --- database ---------------------------------------------------------------------------------------


@pytest.fixture
def db_url() -> Iterator[str]:
    with external.scratch_database() as url:
        yield url


@pytest.fixture
async def seeded_pool(db_url: str) -> AsyncIterator[Pool]:
    """Our schema on an empty database, with the four seeded background_migrations rows.

    The pool opens all its connections first, so concurrent managers really meet in their
    transactions (with lazily opened connections the first one would finish before the next starts)."""
    pg: Pool = AsyncConnectionPool(db_url, min_size=6, max_size=6, open=False, kwargs={"autocommit": True})
    await pg.open(wait=True)
    async with pg.connection() as conn:
        await apply_postgres_migrations(conn)
    yield pg
    await pg.close()


@pytest.fixture
async def pool(seeded_pool: Pool) -> Pool:
    async with seeded_pool.connection() as conn:
        await conn.execute("DELETE FROM background_migrations")  # the tests seed their own rows
    return seeded_pool


async def add(pool: Pool, name: str, script: str | None = None, **columns: Any) -> None:
    values = {"id": str(uuid.uuid4()), "name": name, "script": script or name, "args": Jsonb({}),
              "state": Jsonb({}), **columns}
    names = ", ".join(values)
    marks = ", ".join(["%s"] * len(values))
    async with pool.connection() as conn:
        await conn.execute(f"INSERT INTO background_migrations ({names}) VALUES ({marks})",
                           tuple(values.values()))


async def row(pool: Pool, name: str) -> dict[str, Any]:
    async with pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute("SELECT * FROM background_migrations WHERE name = %s", (name,))
        found = await cur.fetchone()
    assert found is not None
    return found


async def db_now(pool: Pool, shift_seconds: float = 0.0) -> datetime:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT now() AT TIME ZONE 'UTC' + make_interval(secs => %s)", (shift_seconds,))
        found = await cur.fetchone()
    assert found is not None
    value: datetime = found[0]
    return value


def manager(pool: Pool, scripts: dict[str, BackgroundMigration], **kwargs: Any) -> BackgroundMigrationManager:
    kwargs.setdefault("heartbeat_seconds", 0.05)
    kwargs.setdefault("stale_seconds", 2.0)
    return BackgroundMigrationManager(pool, lambda: scripts, **kwargs)


# --- the loop --------------------------------------------------------------------------------------


async def test_runs_every_row_in_name_order_one_at_a_time(pool: Pool) -> None:
    record = Record()
    for name in ("b_second", "c_third", "a_first"):
        await add(pool, name)
    scripts = registry(*(StepScript(n, record, steps=3) for n in ("a_first", "b_second", "c_third")))
    m = manager(pool, scripts)

    assert await m.run_until_idle() == ["a_first", "b_second", "c_third"]

    assert [name for name, _ in record.runs] == ["a_first", "b_second", "c_third"]
    assert record.max_running == 1
    for name in ("a_first", "b_second", "c_third"):
        r = await row(pool, name)
        assert r["finished_at"] is not None and r["failed_at"] is None
        assert r["locked_at"] is None and r["worker_id"] == m.worker_id
        assert r["state"]["step"] == 3
    assert await m.run_until_idle() == []  # nothing left


async def test_a_fresh_lock_of_another_worker_stops_the_loop(pool: Pool) -> None:
    record = Record()
    await add(pool, "a_first", worker_id="other-worker", locked_at=await db_now(pool, -0.5))
    await add(pool, "b_second")
    m = manager(pool, registry(StepScript("a_first", record), StepScript("b_second", record)), stale_seconds=60)

    assert await m.run_until_idle() == []

    assert record.runs == []  # the locked head row blocks the rows after it, as in Langfuse
    assert (await row(pool, "a_first"))["worker_id"] == "other-worker"
    assert (await row(pool, "b_second"))["finished_at"] is None


async def test_a_stale_lock_is_taken_over(pool: Pool) -> None:
    record = Record()
    await add(pool, "a_first", worker_id="crashed-worker", locked_at=await db_now(pool, -3), state=Jsonb({"step": 1}))
    m = manager(pool, registry(StepScript("a_first", record, steps=3)), stale_seconds=2)

    assert await m.run_until_idle() == ["a_first"]

    assert record.runs == [("a_first", 1)]  # resumed from the crashed worker's saved step
    r = await row(pool, "a_first")
    assert r["worker_id"] == m.worker_id and r["finished_at"] is not None and r["locked_at"] is None


async def test_heartbeat_advances_locked_at_and_logs_progress(pool: Pool) -> None:
    record = Record()
    await add(pool, "a_first")
    m = manager(pool, registry(StepScript("a_first", record, steps=12, step_seconds=0.05)), heartbeat_seconds=0.1)

    with structlog.testing.capture_logs() as logs:
        task = asyncio.create_task(m.run_until_idle())
        first = await eventually(lambda: _locked_at(pool, "a_first"), what="lock taken")
        later = await eventually(lambda: _locked_at(pool, "a_first", after=first), what="heartbeat")
        assert later > first
        await task

    progress = [e for e in logs if e["event"] == "background_migration_progress"]
    assert len(progress) >= 2
    assert progress[-1]["rows_total"] == 120 and progress[-1]["rows_done"] > 0
    assert any(e["rate"] is not None and e["rate"] > 0 for e in progress)
    assert (await row(pool, "a_first"))["locked_at"] is None


async def _locked_at(pool: Pool, name: str, after: datetime | None = None) -> datetime | None:
    value: datetime | None = (await row(pool, name))["locked_at"]
    return value if value is not None and (after is None or value > after) else None


async def test_failed_validation_and_failed_run_are_recorded_and_the_next_one_runs(pool: Pool) -> None:
    record = Record()
    for name in ("a_invalid", "b_raises", "c_unknown", "d_fine"):
        await add(pool, name)
    scripts = registry(
        StepScript("a_invalid", record, invalid="args.batchSize must be a positive integer"),
        StepScript("b_raises", record, error="ClickHouse said no"),
        StepScript("d_fine", record),
    )
    m = manager(pool, scripts)

    assert await m.run_until_idle() == ["a_invalid", "b_raises", "c_unknown", "d_fine"]

    expected = {"a_invalid": "args.batchSize must be a positive integer", "b_raises": "ClickHouse said no",
                "c_unknown": "unknown script 'c_unknown'"}
    for name, reason in expected.items():
        r = await row(pool, name)
        assert (r["failed_reason"], r["finished_at"], r["locked_at"]) == (reason, None, None)
        assert r["failed_at"] is not None
    assert [n for n, _ in record.runs] == ["b_raises", "d_fine"]  # an invalid one never runs
    assert (await row(pool, "d_fine"))["finished_at"] is not None


async def test_abort_leaves_it_unfinished_and_unlocked_and_the_next_manager_resumes(pool: Pool) -> None:
    record = Record()
    await add(pool, "a_long")
    await add(pool, "b_after")
    scripts = registry(StepScript("a_long", record, steps=40, step_seconds=0.05), StepScript("b_after", record))
    first = manager(pool, scripts)
    assert first.kick()
    assert not first.kick()  # one loop per process

    await eventually(lambda: _step_at_least(pool, "a_long", 3), what="a few steps")
    started = time.monotonic()
    await first.stop(timeout=5)
    assert time.monotonic() - started < 1.0
    assert not first.kick()  # a stopped manager starts nothing

    r = await row(pool, "a_long")
    assert (r["finished_at"], r["failed_at"], r["locked_at"]) == (None, None, None)
    stopped_at = r["state"]["step"]
    assert 3 <= stopped_at < 40
    assert (await row(pool, "b_after"))["worker_id"] is None  # nothing after it was started

    second = manager(pool, scripts)
    assert await second.run_until_idle() == ["a_long", "b_after"]  # no wait for a stale lock
    assert record.runs[1] == ("a_long", stopped_at)
    assert (await row(pool, "a_long"))["finished_at"] is not None


async def _step_at_least(pool: Pool, name: str, step: int) -> bool:
    return int((await row(pool, name))["state"].get("step", 0)) >= step


async def test_concurrent_managers_never_run_a_migration_twice(pool: Pool) -> None:
    record = Record()
    names = ["a_one", "b_two", "c_three"]
    for name in names:
        await add(pool, name)
    scripts = registry(*(StepScript(n, record, steps=4, step_seconds=0.02) for n in names))
    managers = [manager(pool, scripts) for _ in range(5)]

    handled = await asyncio.gather(*(m.run_until_idle() for m in managers))

    assert {name: record.count(name) for name in names} == dict.fromkeys(names, 1)
    assert record.max_running == 1
    assert sorted(n for h in handled for n in h) == names
    for name in names:
        assert (await row(pool, name))["finished_at"] is not None


# --- the worker: cron re-check, retry, gate ---------------------------------------------------------


async def test_cron_recheck_picks_up_a_migration_rearmed_by_retry(pool: Pool, resources: Resources) -> None:
    record = Record()
    await add(pool, "a_failed", failed_at=await db_now(pool), failed_reason="ClickHouse was down",
              state=Jsonb({"step": 1}))
    m = manager(pool, registry(StepScript("a_failed", record)))
    worker = Worker(functions=[], cron_jobs=[jobs_bm.background_migrations_cron(second=None)],
                    queue_name=f"test-bm-{uuid.uuid4().hex}", redis_pool=resources.redis, handle_signals=False,
                    poll_delay=0.05, ctx={jobs_bm.CTX_KEY: m}, job_serializer=job_serializer,
                    job_deserializer=job_deserializer)
    stop = asyncio.Event()
    task = asyncio.create_task(run_until_stopped(worker, stop, grace_seconds=2))
    try:
        await asyncio.sleep(1.5)  # the start-up kick and a tick or so: a failed row is not retried by itself
        assert record.runs == []

        before = await retry_migration(pool, "a_failed")
        assert before.failed_reason == "ClickHouse was down"

        await eventually(lambda: _finished(pool, "a_failed"), timeout=10, what="picked up by the cron check")
    finally:
        stop.set()
        await task
    assert record.runs == [("a_failed", 0)]  # retry wiped the state: it started over
    r = await row(pool, "a_failed")
    assert (r["failed_at"], r["failed_reason"]) == (None, None)


async def _finished(pool: Pool, name: str) -> bool:
    return (await row(pool, name))["finished_at"] is not None


async def test_worker_shutdown_aborts_the_running_migration(pool: Pool, resources: Resources) -> None:
    record = Record()
    await add(pool, "a_long")
    m = manager(pool, registry(StepScript("a_long", record, steps=200, step_seconds=0.05)))
    worker = Worker(functions=[], cron_jobs=[jobs_bm.background_migrations_cron()],
                    queue_name=f"test-bm-{uuid.uuid4().hex}", redis_pool=resources.redis, handle_signals=False,
                    poll_delay=0.05, ctx={jobs_bm.CTX_KEY: m}, job_serializer=job_serializer,
                    job_deserializer=job_deserializer)
    stop = asyncio.Event()
    task = asyncio.create_task(run_until_stopped(worker, stop, grace_seconds=2))
    await eventually(lambda: _step_at_least(pool, "a_long", 2), what="started at worker start")
    stop.set()
    await asyncio.wait_for(task, timeout=5)

    r = await row(pool, "a_long")
    assert (r["finished_at"], r["failed_at"], r["locked_at"]) == (None, None, None)
    assert r["state"]["step"] < 200


async def test_gate_false_builds_no_manager_and_nothing_runs(pool: Pool, resources: Resources) -> None:
    off = dataclasses.replace(resources, pg=pool,
                              settings=dataclasses.replace(resources.settings, enable_background_migrations=False))
    on = dataclasses.replace(resources, pg=pool)
    await add(pool, "a_queued", script="addGenerationsCostBackfill")

    assert jobs_bm.build_manager(off) is None
    writer = ClickHouseWriter(resources.clickhouse, interval_seconds=0.02)
    worker = build_worker(off, writer, queue_name=f"test-bm-{uuid.uuid4().hex}")
    assert worker.cron_jobs == [] and worker.ctx[jobs_bm.CTX_KEY] is None
    assert await jobs_bm.check_background_migrations(worker.ctx) is False
    stop = asyncio.Event()
    task = asyncio.create_task(run_until_stopped(worker, stop, grace_seconds=1))
    await asyncio.sleep(1.0)
    stop.set()
    await task
    assert (await row(pool, "a_queued"))["worker_id"] is None  # never taken

    enabled = build_worker(on, writer, queue_name=f"test-bm-{uuid.uuid4().hex}")
    [cron_job] = enabled.cron_jobs
    assert cron_job.name == jobs_bm.CHECK_BACKGROUND_MIGRATIONS
    assert cron_job.unique and cron_job.run_at_startup
    assert isinstance(enabled.ctx[jobs_bm.CTX_KEY], BackgroundMigrationManager)


async def test_worker_runs_the_seeded_migrations_at_start(seeded_pool: Pool, resources: Resources) -> None:
    """The real scripts (registry) on the four seeded rows of an empty schema, started by build_worker."""
    pool = seeded_pool
    writer = ClickHouseWriter(resources.clickhouse, interval_seconds=0.02)
    worker = build_worker(dataclasses.replace(resources, pg=pool), writer, queue_name=f"test-bm-{uuid.uuid4().hex}")
    stop = asyncio.Event()
    task = asyncio.create_task(run_until_stopped(worker, stop, grace_seconds=2))

    async def all_done() -> list[tuple[Any, ...]] | None:
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT name, finished_at, failed_reason FROM background_migrations ORDER BY name")
            rows = await cur.fetchall()
        return rows if len(rows) == 4 and all(r[1] is not None or r[2] is not None for r in rows) else None

    try:
        done = await eventually(all_done, timeout=30, what="the four seeded migrations ran")
    finally:
        stop.set()
        await task
    assert [(r[0], r[2]) for r in done] == [(r[0], None) for r in done]  # all finished, none failed
