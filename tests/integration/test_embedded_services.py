"""Embedded Postgres and Valkey: start on an empty dir, answer, stop without leftovers, keep data
across restarts, and recover from a crash of the process that started them (SIGKILL)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Collection, Iterator
from pathlib import Path

import psycopg
import pytest
import redis.asyncio as aioredis
from arq.connections import RedisSettings, create_pool
from structlog.testing import capture_logs

from langfuse_aio.runtime.embedded import start_embedded_postgres, start_embedded_valkey

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]


# -- helpers ----------------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def _wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _processes_for(path: Path, *, parents: Collection[int] = ()) -> list[int]:
    """Live processes whose command line mentions `path` (a postmaster's -D, a valkey config) or
    whose parent is one of `parents` (postgres backends rename themselves)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if (str(path) in cmdline or ppid in parents) and _alive(pid) and pid != os.getpid():
            found.append(pid)
    return found


def _postgres_processes(pgdata: Path, postmaster_pid: int) -> list[int]:
    return _processes_for(pgdata, parents={postmaster_pid})


Cleanup = list[Callable[[], object]]


@pytest.fixture
def cleanup() -> Iterator[Cleanup]:
    """Callables a test registers run at teardown, last first, even if the test failed."""
    actions: Cleanup = []
    yield actions
    for action in reversed(actions):
        action()


def _kill_if_alive(pid: int, sig: signal.Signals = signal.SIGKILL) -> None:
    if _alive(pid):
        os.kill(pid, sig)
        _wait_gone(pid)


def _spawn_owner(kind: str, directory: Path, cleanup: Cleanup) -> tuple[subprocess.Popen[str], dict[str, object]]:
    """A child Python process that starts a service and then sleeps, to be SIGKILLed like a crash."""
    code = textwrap.dedent(
        f"""
        import json, sys, time
        from pathlib import Path
        from langfuse_aio.runtime.embedded import Embedded{kind}
        server = Embedded{kind}.start(Path(sys.argv[1]))
        print("READY " + json.dumps({{"url": server.url, "pid": server.pid}}), flush=True)
        time.sleep(600)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(directory)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, env=env,
    )
    cleanup.append(lambda: _crash(proc))
    assert proc.stdout is not None
    output = []
    for line in proc.stdout:
        if line.startswith("READY "):
            return proc, json.loads(line.removeprefix("READY "))
        output.append(line)
    raise RuntimeError(f"child exited before starting {kind}:\n{''.join(output)}")


def _crash(proc: subprocess.Popen[str]) -> None:
    """SIGKILL, as the OOM killer would: no atexit, no finally."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    if proc.stdout is not None:
        proc.stdout.close()


# -- Postgres ---------------------------------------------------------------------------------


async def test_postgres_starts_on_an_empty_dir_answers_and_stops_cleanly(
    tmp_path: Path, cleanup: Cleanup
) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    pgdata = private / "postgres"
    started = time.monotonic()
    server = await start_embedded_postgres(pgdata)
    cleanup.append(server.stop)
    startup = time.monotonic() - started
    assert not server.reused
    assert (pgdata / "PG_VERSION").exists()
    if os.geteuid() == 0:  # postgres runs as `embedded_postgres`: it may traverse, not list, the parents
        assert private.stat().st_mode & 0o777 == 0o701
    async with await psycopg.AsyncConnection.connect(server.url) as conn:
        cur = await conn.execute("SELECT current_user, version()")
        user, version = await cur.fetchone() or ("", "")
    assert user == "postgres"
    assert version.startswith("PostgreSQL 18")
    assert _postgres_processes(pgdata, server.pid)
    assert server.pids() == [server.pid]

    started = time.monotonic()
    await server.astop()
    shutdown = time.monotonic() - started
    assert _postgres_processes(pgdata, server.pid) == []
    assert not _alive(server.pid)
    assert server.pids() == []
    server.stop()  # idempotent
    await server.astop()
    print(f"embedded postgres: initdb+start {startup:.3f}s, stop {shutdown:.3f}s")


async def test_postgres_restart_on_the_same_dir_keeps_rows(
    tmp_path: Path, cleanup: Cleanup
) -> None:
    pgdata = tmp_path / "postgres"
    first = await start_embedded_postgres(pgdata)
    cleanup.append(first.stop)
    async with await psycopg.AsyncConnection.connect(first.url, autocommit=True) as conn:
        await conn.execute("CREATE TABLE kept (id int PRIMARY KEY, name text)")
        await conn.execute("INSERT INTO kept VALUES (1, 'one'), (2, 'two')")
    await first.astop()
    # As after a reboot: a leftover postmaster.pid whose pid now belongs to another program of
    # the same user. Postgres alone would refuse to start ("lock file already exists").
    owner = "embedded_postgres" if os.geteuid() == 0 else None
    other = subprocess.Popen(["sleep", "60"], user=owner)
    cleanup.append(lambda: (other.kill(), other.wait()))
    (pgdata / "postmaster.pid").write_text(f"{other.pid}\n{pgdata}\n1700000000\n5432\n{pgdata}\n\n  0 0\nready\n")

    started = time.monotonic()
    with capture_logs() as logs:
        second = await start_embedded_postgres(pgdata)
    cleanup.append(second.stop)
    restart = time.monotonic() - started
    assert [e["recycled_pid"] for e in logs if e["event"] == "embedded_postgres_stale_lock_removed"] == [other.pid]
    assert not second.reused
    assert second.pid != first.pid
    async with await psycopg.AsyncConnection.connect(second.url) as conn:
        cur = await conn.execute("SELECT id, name FROM kept ORDER BY id")
        assert await cur.fetchall() == [(1, "one"), (2, "two")]
    await second.astop()
    assert _postgres_processes(pgdata, second.pid) == []
    print(f"embedded postgres: restart {restart:.3f}s")


async def test_postgres_orphan_of_a_killed_owner_is_adopted(
    tmp_path: Path, cleanup: Cleanup
) -> None:
    pgdata = tmp_path / "postgres"
    owner, info = await asyncio.to_thread(_spawn_owner, "Postgres", pgdata, cleanup)
    orphan_pid = int(str(info["pid"]))
    cleanup.append(lambda: _kill_if_alive(orphan_pid, signal.SIGQUIT))
    async with await psycopg.AsyncConnection.connect(str(info["url"]), autocommit=True) as conn:
        await conn.execute("CREATE TABLE kept (id int)")
        await conn.execute("INSERT INTO kept VALUES (42)")
    _crash(owner)
    assert _alive(orphan_pid), "the postmaster outlives the process that started it"

    with capture_logs() as logs:
        server = await start_embedded_postgres(pgdata)
    cleanup.append(server.stop)
    assert server.reused
    assert server.pid == orphan_pid
    assert any(e["event"] == "embedded_postgres_orphan_adopted" for e in logs)
    async with await psycopg.AsyncConnection.connect(server.url) as conn:
        cur = await conn.execute("SELECT id FROM kept")
        assert await cur.fetchall() == [(42,)]
    await server.astop()
    assert _postgres_processes(pgdata, orphan_pid) == []


async def test_postgres_recovers_after_the_postmaster_itself_was_killed(
    tmp_path: Path, cleanup: Cleanup
) -> None:
    pgdata = tmp_path / "postgres"
    first = await start_embedded_postgres(pgdata)
    cleanup.append(first.stop)
    async with await psycopg.AsyncConnection.connect(first.url, autocommit=True) as conn:
        await conn.execute("CREATE TABLE kept (id int)")
        await conn.execute("INSERT INTO kept VALUES (7)")  # committed: in the WAL
    os.kill(first.pid, signal.SIGKILL)
    assert _wait_gone(first.pid)
    assert (pgdata / "postmaster.pid").exists()  # stale

    second = await start_embedded_postgres(pgdata)
    cleanup.append(second.stop)
    assert not second.reused
    async with await psycopg.AsyncConnection.connect(second.url) as conn:
        cur = await conn.execute("SELECT id FROM kept")
        assert await cur.fetchall() == [(7,)]
    first.stop()  # its postmaster is gone: a no-op that must not stop the new server
    assert _alive(second.pid)
    await second.astop()
    assert _postgres_processes(pgdata, second.pid) == []


# -- Valkey -----------------------------------------------------------------------------------


async def test_valkey_starts_serves_arq_and_stops_cleanly(
    tmp_path: Path, cleanup: Cleanup
) -> None:
    vdir = tmp_path / "valkey"
    started = time.monotonic()
    server = await start_embedded_valkey(vdir)
    cleanup.append(server.stop)
    startup = time.monotonic() - started
    assert server.url.startswith("unix://")

    client = aioredis.Redis.from_url(server.url)
    try:
        await client.lpush("arq:queue:test", b"job-1", b"job-2")
        await client.set("arq:job:job-1", b"payload")
        assert await client.get("arq:job:job-1") == b"payload"
        assert await client.rpop("arq:queue:test") == b"job-1"
    finally:
        await client.aclose()

    pool = await create_pool(RedisSettings.from_dsn(server.url))
    try:
        job = await pool.enqueue_job("noop", _job_id="j1")
        assert job is not None
        assert await pool.zcard("arq:queue") == 1
    finally:
        await pool.aclose()

    started = time.monotonic()
    await server.astop()
    shutdown = time.monotonic() - started
    assert not _alive(server.pid)
    assert _processes_for(vdir) == []
    assert not server.socket_path.exists()
    server.stop()  # idempotent
    print(f"embedded valkey: start {startup:.3f}s, stop {shutdown:.3f}s")


async def test_valkey_restart_on_the_same_dir_keeps_keys(
    tmp_path: Path, cleanup: Cleanup
) -> None:
    vdir = tmp_path / "valkey"
    first = await start_embedded_valkey(vdir)
    cleanup.append(first.stop)
    client = aioredis.Redis.from_url(first.url)
    await client.lpush("arq:queue", b"job-1")
    await client.aclose()
    await first.astop()
    assert (vdir / "appendonlydir").is_dir()

    second = await start_embedded_valkey(vdir)
    cleanup.append(second.stop)
    client = aioredis.Redis.from_url(second.url)
    try:
        assert await client.lrange("arq:queue", 0, -1) == [b"job-1"]
        assert await client.config_get("appendonly") == {"appendonly": "yes"}
        assert await client.config_get("appendfsync") == {"appendfsync": "everysec"}
    finally:
        await client.aclose()
    await second.astop()


async def test_valkey_orphan_of_a_killed_owner_is_shut_down_with_save_and_replaced(
    tmp_path: Path, cleanup: Cleanup
) -> None:
    vdir = tmp_path / "valkey"
    owner, info = await asyncio.to_thread(_spawn_owner, "Valkey", vdir, cleanup)
    orphan_pid = int(str(info["pid"]))
    cleanup.append(lambda: _kill_if_alive(orphan_pid, signal.SIGTERM))
    client = aioredis.Redis.from_url(str(info["url"]))
    await client.set("kept", b"value")
    await client.aclose()
    _crash(owner)
    assert _alive(orphan_pid), "valkey outlives the process that started it"

    with capture_logs() as logs:
        server = await start_embedded_valkey(vdir)
    cleanup.append(server.stop)
    events = {e["event"]: e for e in logs}
    assert events["embedded_valkey_orphan_stopped"]["graceful"] is True
    assert not _alive(orphan_pid)
    assert server.pid != orphan_pid
    client = aioredis.Redis.from_url(server.url)
    try:
        assert await client.get("kept") == b"value"
    finally:
        await client.aclose()
    await server.astop()
    assert _processes_for(vdir) == []


async def test_valkey_crash_keeps_writes_older_than_a_second(
    tmp_path: Path, cleanup: Cleanup
) -> None:
    vdir = tmp_path / "valkey"
    first = await start_embedded_valkey(vdir)
    cleanup.append(first.stop)
    client = aioredis.Redis.from_url(first.url)
    await client.lpush("arq:queue", b"job-1")
    await client.aclose()
    await asyncio.sleep(1.5)  # appendfsync everysec
    os.kill(first.pid, signal.SIGKILL)
    assert _wait_gone(first.pid)

    second = await start_embedded_valkey(vdir)
    cleanup.append(second.stop)
    client = aioredis.Redis.from_url(second.url)
    try:
        assert await client.lrange("arq:queue", 0, -1) == [b"job-1"]
    finally:
        await client.aclose()
    first.stop()  # already dead: a no-op that must not stop the new server
    assert _alive(second.pid)
    await second.astop()


async def test_valkey_socket_moves_to_a_short_dir_when_the_path_is_too_long(
    tmp_path: Path, cleanup: Cleanup
) -> None:
    vdir = tmp_path / ("d" * 60) / ("e" * 40) / "valkey"
    server = await start_embedded_valkey(vdir)
    cleanup.append(server.stop)
    assert server.socket_path.parent != vdir
    assert len(str(server.socket_path)) < 104
    client = aioredis.Redis.from_url(server.url)
    try:
        assert await client.ping()
    finally:
        await client.aclose()
    await server.astop()
    assert not server.socket_path.parent.exists()
