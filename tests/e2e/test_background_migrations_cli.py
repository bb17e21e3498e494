"""`langfuse-aio migrations status|retry` as an operator runs them, on a seeded throwaway Postgres."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.types.json import Jsonb

from langfuse_aio.migrations.postgres_apply import apply_postgres_migrations
from tests.support import external
from tests.support.external import free_port
from tests.support.server import ROOT, STORE_VARS, Server, kill_leftovers, processes_using
from tests.support.waiting import eventually_sync

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

COST, TRACES, OBSERVATIONS, SCORES = (
    "20241024_1216_add_generations_cost_backfill",
    "20241024_1730_migrate_traces_from_pg_to_ch",
    "20241024_1737_migrate_observations_from_pg_to_ch",
    "20241024_1738_migrate_scores_from_pg_to_ch",
)
READ_INDEXES = "20261205_read_index_backfill"  # ours, in langfuse_aio_background_migrations


@pytest.fixture
def db_url() -> Iterator[str]:
    with external.scratch_database() as url:
        yield url


@pytest.fixture
async def seeded(db_url: str) -> AsyncIterator[str]:
    """The four seeded rows: cost backfill finished, traces copy running, observations failed, scores queued."""
    async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
        await apply_postgres_migrations(conn)
        utc_now = "now() AT TIME ZONE 'UTC'"
        await conn.execute(f"UPDATE background_migrations SET finished_at = {utc_now} WHERE name = %s", (COST,))
        await conn.execute(
            f"UPDATE background_migrations SET worker_id = 'worker-7', locked_at = {utc_now}, state = %s "
            "WHERE name = %s",
            (Jsonb({"rowsDone": 2_000, "rowsTotal": 10_000, "startedAt": "2025-01-10T11:00:00.000Z",
                    "updatedAt": "2025-01-10T11:03:20.000Z", "maxDate": "2024-06-01T00:00:00.000Z"}), TRACES),
        )
        await conn.execute(
            f"UPDATE background_migrations SET failed_at = {utc_now}, failed_reason = 'Memory limit exceeded', "
            "state = %s WHERE name = %s",
            (Jsonb({"rowsDone": 5, "maxDate": "2024-05-01T00:00:00.000Z"}), OBSERVATIONS),
        )
    yield db_url


def cli(db_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in STORE_VARS and not k.startswith("LANGFUSE_")}
    env.update(DATABASE_URL=db_url, SALT="cli-test-salt", LANGFUSE_AIO_DATA_DIR=str(tmp_path / "data"),
               LANGFUSE_LOG_LEVEL="error")
    return subprocess.run([sys.executable, "-m", "langfuse_aio.cli", "migrations", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)


def test_status_shows_each_migration_and_the_overall_state(seeded: str, tmp_path: Path) -> None:
    done = cli(seeded, tmp_path, "status")

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "background migrations: FAILED"
    assert f"{COST}  finished" in lines
    assert f"{TRACES}  active (worker worker-7)" in lines
    assert "  rows: 2,000 of 10,000 (20.0%)  rate: 10.0 rows/s  eta: 13m 20s" in lines
    assert f"{OBSERVATIONS}  failed" in lines
    assert "  failed reason: Memory limit exceeded" in lines
    assert f"{SCORES}  queued" in lines
    assert done.stdout.index(COST) < done.stdout.index(TRACES) < done.stdout.index(OBSERVATIONS)
    assert "langfuse-aio background jobs: ACTIVE" in lines  # our own table, after Langfuse's
    assert f"{READ_INDEXES}  queued" in lines


def test_retry_rearms_a_failed_one_and_status_shows_it_queued(seeded: str, tmp_path: Path) -> None:
    done = cli(seeded, tmp_path, "retry", OBSERVATIONS)

    assert done.returncode == 0, done.stderr
    assert f"{OBSERVATIONS} re-armed (it was failed: Memory limit exceeded)" in done.stdout
    assert "no restart is needed" in done.stdout
    with psycopg.connect(seeded) as conn:
        row = conn.execute("SELECT failed_at, failed_reason, finished_at, state FROM background_migrations "
                           "WHERE name = %s", (OBSERVATIONS,)).fetchone()
    assert row == (None, None, None, {})

    after = cli(seeded, tmp_path, "status")
    assert after.stdout.splitlines()[0] == "background migrations: ACTIVE"
    assert f"{OBSERVATIONS}  queued" in after.stdout.splitlines()


def test_retry_of_an_unknown_name_exits_1_and_names_the_known_ones(seeded: str, tmp_path: Path) -> None:
    done = cli(seeded, tmp_path, "retry", "no_such_migration")

    assert done.returncode == 1
    assert "no background migration named 'no_such_migration'" in done.stderr
    assert COST in done.stderr


def test_status_before_the_schema_exists_says_what_to_do(db_url: str, tmp_path: Path) -> None:
    done = cli(db_url, tmp_path, "status")

    assert done.returncode == 1
    assert "langfuse-aio migrate" in done.stderr


def test_server_runs_the_seeded_migrations_then_status_reports_finished(tmp_path: Path) -> None:
    """On embedded stores: the server's worker runs the four seeded rows at start (logged as JSON),
    stops cleanly; then `migrations status` (server stopped, as for every embedded CLI command)."""
    data_dir = tmp_path / "data"
    try:
        server = Server(data_dir, free_port())
        server.wait_healthy()

        def finished() -> list[str]:
            events = [json.loads(line) for line in server.log.read_text().splitlines() if line.startswith("{")]
            return [e["name"] for e in events if e.get("event") == "background_migration_finished"]

        names = eventually_sync(finished, lambda found: len(found) == 5, timeout=60)
        assert [n for n in names if n != READ_INDEXES] == [COST, TRACES, OBSERVATIONS, SCORES]
        assert READ_INDEXES in names  # a fresh ClickHouse: its indexes are complete, the job ends at once
        code, seconds, _ = server.stop()
        assert code == 0 and seconds < 10

        env = {k: v for k, v in os.environ.items() if k not in STORE_VARS and not k.startswith("LANGFUSE_")}
        env.update(LANGFUSE_AIO_DATA_DIR=str(data_dir), LANGFUSE_LOG_LEVEL="error")
        done = subprocess.run([sys.executable, "-m", "langfuse_aio.cli", "migrations", "status"], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines()[0] == "background migrations: FINISHED"
        assert "langfuse-aio background jobs: FINISHED" in done.stdout.splitlines()
        assert f"{READ_INDEXES}  finished" in done.stdout.splitlines()
        assert processes_using(data_dir) == [], "the CLI left its embedded Postgres running"
    finally:
        kill_leftovers(data_dir)
