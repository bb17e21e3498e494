"""A server killed (SIGKILL) in the middle of the v2 observations copy resumes it after a restart, and
reads show every v2 observation exactly once."""

from __future__ import annotations

import base64
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from langfuse_aio.migrations.postgres_apply import apply_postgres_migrations
from langfuse_aio.services.provisioning import create_api_key, ensure_organization, ensure_project
from tests.support import external
from tests.support.external import free_port
from tests.support.server import Server, kill_leftovers
from tests.support.waiting import eventually_sync

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

ROWS, BATCH, SALT, STALE = 30_000, 50, "kill-test-salt", 20
OBSERVATIONS = "20241024_1737_migrate_observations_from_pg_to_ch"


@pytest.fixture
def db_url() -> Iterator[str]:
    with external.scratch_database() as url:
        yield url


async def seed(url: str) -> str:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await apply_postgres_migrations(conn)
        await ensure_organization(conn, "org-kill", "org kill")
        await ensure_project(conn, "proj-kill", "org-kill", "kill")
        key = await create_api_key(conn, "proj-kill", salt=SALT)
        # one created_at for all: the plateau upstream could not page through
        await conn.execute(
            "INSERT INTO observations (id, name, start_time, type, project_id, created_at) "
            "SELECT 'o-' || lpad(n::text, 6, '0'), 'span ' || n,"
            " '2024-05-01 12:00:00'::timestamp + n * interval '1 ms', 'SPAN', 'proj-kill', '2024-05-03 09:00:00'"
            " FROM generate_series(1, %s) AS n", (ROWS,))
        await conn.execute("UPDATE background_migrations SET args = %s::jsonb WHERE name = %s",
                           (f'{{"batchSize": {BATCH}}}', OBSERVATIONS))
    return base64.b64encode(f"{key.public_key}:{key.secret_key}".encode()).decode()


def copy_state(url: str) -> tuple[int, bool]:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT (state->>'rowsDone')::int, finished_at IS NOT NULL FROM background_migrations "
                           "WHERE name = %s", (OBSERVATIONS,)).fetchone()
    assert row is not None
    return int(row[0] or 0), bool(row[1])


async def test_sigkill_mid_copy_then_restart_resumes_without_duplicates(db_url: str, tmp_path: Path) -> None:
    auth = await seed(db_url)
    env = {"DATABASE_URL": db_url, "SALT": SALT, "LANGFUSE_AIO_BACKGROUND_MIGRATION_LOCK_STALE_SECONDS": str(STALE)}
    data_dir = tmp_path / "data"
    try:
        first = Server(data_dir, free_port(), env)
        first.wait_healthy()
        eventually_sync(lambda: copy_state(db_url), lambda s: 0 < s[0] < ROWS // 2, timeout=60,
                                  interval=0.02)
        first.stop(signal.SIGKILL)
        assert copy_state(db_url)[1] is False
        time.sleep(STALE + 1)  # the dead process's lock goes stale; the next start takes it over

        second = Server(data_dir, free_port(), env)
        second.wait_healthy()
        eventually_sync(lambda: copy_state(db_url), lambda s: s[1], timeout=90, interval=0.2)
        with httpx.Client(base_url=second.url, headers={"Authorization": f"Basic {auth}"}, timeout=30) as client:
            listed = client.get("/api/public/observations", params={"limit": 100, "page": 1}).json()
            assert listed["meta"]["totalItems"] == ROWS
            ids = [o["id"] for o in listed["data"]]
            assert len(ids) == len(set(ids)) == 100
            one = client.get("/api/public/observations/o-000001").json()
            assert one["name"] == "span 1" and one["type"] == "SPAN"
        code, _, _ = second.stop()
        assert code == 0
    finally:
        kill_leftovers(data_dir)
