"""The batching writer against the store set's ClickHouse (chDB embedded, or the HTTP backend)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
import structlog

from langfuse_aio.runtime.resources import Resources
from langfuse_aio.storage.clickhouse.base import ClickHouse, ClickHouseError, Params, Row
from langfuse_aio.storage.clickhouse.writer import ClickHouseWriter

pytestmark = pytest.mark.integration

T0 = datetime(2024, 11, 5, 10, 11, 12, 345000, tzinfo=UTC)


def trace(project_id: str, trace_id: str, **overrides: Any) -> Row:
    row: Row = {
        "id": trace_id,
        "timestamp": T0,
        "name": "t",
        "user_id": None,
        "metadata": {},
        "release": None,
        "version": None,
        "project_id": project_id,
        "public": False,
        "bookmarked": False,
        "tags": [],
        "input": None,
        "output": None,
        "session_id": None,
        "created_at": T0,
        "updated_at": T0,
        "event_ts": T0,
        "is_deleted": 0,
    }
    return row | overrides


def traces(project_id: str, n: int, prefix: str = "t") -> list[Row]:
    return [trace(project_id, f"{prefix}-{i}") for i in range(n)]


async def count(ch: ClickHouse, project_id: str, table: str = "traces") -> int:
    rows = await ch.query(f"SELECT count() AS n FROM {table} WHERE project_id = {{p:String}}", {"p": project_id})
    return int(rows[0]["n"])


class Recording:
    """The real store, recording inserts; optionally failing the first `fail_inserts` of them,
    or every one (and pings too) with `down=True`."""

    def __init__(self, ch: ClickHouse, *, fail_inserts: int = 0, down: bool = False) -> None:
        self.database = ch.database
        self._ch = ch
        self.inserts: list[tuple[str, int]] = []
        self.failed = 0
        self._fail_inserts = fail_inserts
        self.down = down

    async def command(self, sql: str, params: Params | None = None) -> None:
        await self._ch.command(sql, params)

    async def query(self, sql: str, params: Params | None = None) -> list[Row]:
        return await self._ch.query(sql, params)

    async def insert(self, table: str, rows: Sequence[Row]) -> None:
        if self.down or self.failed < self._fail_inserts:
            self.failed += 1
            raise ClickHouseError("Code: 210. DB::Exception: Connection refused (injected)")
        await self._ch.insert(table, rows)
        self.inserts.append((table, len(rows)))

    async def ping(self) -> None:
        if self.down:
            raise ClickHouseError("Connection refused (injected)")
        await self._ch.ping()

    async def close(self) -> None:
        return None


@pytest.fixture
def project_id() -> str:
    return f"proj-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def ch(resources: Resources) -> ClickHouse:
    return resources.clickhouse


async def test_concurrent_writes_share_one_insert_and_all_land(ch: ClickHouse, project_id: str) -> None:
    recording = Recording(ch)
    writer = ClickHouseWriter(recording, interval_seconds=0.05)
    await writer.start()
    try:
        await asyncio.gather(*(writer.write("traces", traces(project_id, 50, prefix=f"w{w}")) for w in range(20)))
        # every write returned, so every row is visible now, without waiting
        assert await count(ch, project_id) == 1000
        assert recording.inserts == [("traces", 1000)]
        assert writer.buffered_rows == 0
    finally:
        await writer.close()


async def test_write_returns_only_after_its_rows_are_visible(ch: ClickHouse, project_id: str) -> None:
    writer = ClickHouseWriter(ch, interval_seconds=0.2)
    await writer.start()
    try:
        started = asyncio.get_running_loop().time()
        task = asyncio.create_task(writer.write("traces", [trace(project_id, "one")]))
        await asyncio.sleep(0.05)
        assert not task.done()
        assert await count(ch, project_id) == 0  # buffered, not inserted yet
        await task
        assert asyncio.get_running_loop().time() - started >= 0.19
        assert await count(ch, project_id) == 1
    finally:
        await writer.close()


async def test_a_full_buffer_flushes_before_the_interval(ch: ClickHouse, project_id: str) -> None:
    recording = Recording(ch)
    writer = ClickHouseWriter(recording, max_rows=100, interval_seconds=1.0)
    await writer.start()
    loop = asyncio.get_running_loop()
    try:
        started = loop.time()
        await writer.write("traces", traces(project_id, 100))
        assert loop.time() - started < 0.9
        # a write larger than max_rows is cut into batches of at most max_rows; full ones go at
        # once, the rest when the interval is up
        started = loop.time()
        await writer.write("traces", traces(project_id, 250, prefix="big"))
        assert loop.time() - started >= 0.95
        assert recording.inserts == [("traces", 100), ("traces", 100), ("traces", 100), ("traces", 50)]
        assert await count(ch, project_id) == 350
    finally:
        await writer.close()


async def test_tables_are_batched_separately(ch: ClickHouse, project_id: str) -> None:
    recording = Recording(ch)
    writer = ClickHouseWriter(recording)
    await writer.start()
    score = {
        "id": "s-1", "timestamp": T0, "project_id": project_id, "trace_id": "t-0", "observation_id": None,
        "name": "q", "value": 1.0, "source": "API", "comment": None, "author_user_id": None, "config_id": None,
        "data_type": "NUMERIC", "string_value": None, "queue_id": None, "created_at": T0, "updated_at": T0,
        "event_ts": T0, "is_deleted": 0,
    }
    try:
        await asyncio.gather(writer.write("traces", traces(project_id, 3)), writer.write("scores", [score]),
                             writer.write("traces", traces(project_id, 2, prefix="x")))
        assert sorted(recording.inserts) == [("scores", 1), ("traces", 5)]
        assert (await count(ch, project_id), await count(ch, project_id, "scores")) == (5, 1)
    finally:
        await writer.close()


async def test_transient_insert_failures_are_retried(ch: ClickHouse, project_id: str) -> None:
    recording = Recording(ch, fail_inserts=2)
    writer = ClickHouseWriter(recording, max_attempts=3, backoff_seconds=0.01)
    await writer.start()
    try:
        with structlog.testing.capture_logs() as logs:
            await writer.write("traces", traces(project_id, 5))
        assert recording.failed == 2 and recording.inserts == [("traces", 5)]
        assert await count(ch, project_id) == 5
        retries = [e for e in logs if e["event"] == "clickhouse_flush_retry"]
        assert [(e["attempt"], e["retry_in"]) for e in retries] == [(1, 0.01), (2, 0.02)]
        (flush,) = [e for e in logs if e["event"] == "clickhouse_flush"]
        assert (flush["table"], flush["rows"], flush["attempts"]) == ("traces", 5, 3)
        assert flush["seconds"] >= 0
    finally:
        await writer.close()


async def test_a_bad_row_fails_only_its_caller_and_later_batches_still_land(
    ch: ClickHouse, project_id: str
) -> None:
    recording = Recording(ch)
    writer = ClickHouseWriter(recording, max_attempts=2, backoff_seconds=0.01)
    await writer.start()
    try:
        good, bad = await asyncio.gather(
            writer.write("traces", traces(project_id, 10, prefix="good")),
            writer.write("traces", [trace(project_id, "bad", colour="red")]),  # no such column
            return_exceptions=True,
        )
        assert good is None
        assert isinstance(bad, ClickHouseError)
        assert "No such column colour" in str(bad)
        assert await count(ch, project_id) == 10
        # the writer keeps running: the next batch lands
        await writer.write("traces", traces(project_id, 3, prefix="later"))
        assert await count(ch, project_id) == 13
    finally:
        await writer.close()


async def test_when_clickhouse_is_down_every_caller_of_the_batch_fails(ch: ClickHouse, project_id: str) -> None:
    recording = Recording(ch, down=True)
    writer = ClickHouseWriter(recording, max_attempts=3, backoff_seconds=0.01)
    await writer.start()
    try:
        results = await asyncio.gather(
            *(writer.write("traces", traces(project_id, 2, prefix=f"w{w}")) for w in range(3)),
            return_exceptions=True,
        )
        assert all(isinstance(r, ClickHouseError) for r in results)
        assert "failed after 3 attempt(s)" in str(results[0])
        assert recording.failed == 3  # one batch, three attempts; no per-caller inserts while down
        recording.down = False
        await writer.write("traces", traces(project_id, 2))
        assert await count(ch, project_id) == 2
    finally:
        await writer.close()


async def test_close_flushes_everything_then_refuses_writes(ch: ClickHouse, project_id: str) -> None:
    writer = ClickHouseWriter(ch, interval_seconds=60)
    await writer.start()
    pending = [asyncio.create_task(writer.write("traces", traces(project_id, 10, prefix=f"c{i}"))) for i in range(4)]
    await asyncio.sleep(0.01)
    assert writer.buffered_rows == 40 and not any(t.done() for t in pending)
    await asyncio.wait_for(writer.close(), timeout=10)
    await asyncio.gather(*pending)
    assert await count(ch, project_id) == 40
    with pytest.raises(ClickHouseError, match="closed"):
        await writer.write("traces", traces(project_id, 1))
    await writer.close()  # idempotent


async def test_close_without_start_and_write_without_start(ch: ClickHouse) -> None:
    writer = ClickHouseWriter(ch)
    with pytest.raises(RuntimeError, match="start"):
        await writer.write("traces", [trace("p", "x")])
    await writer.close()
    await writer.close()


async def test_a_cancelled_caller_does_not_disturb_the_batch(ch: ClickHouse, project_id: str) -> None:
    writer = ClickHouseWriter(ch, interval_seconds=0.1)
    await writer.start()
    try:
        cancelled = asyncio.create_task(writer.write("traces", traces(project_id, 2, prefix="gone")))
        kept = asyncio.create_task(writer.write("traces", traces(project_id, 2, prefix="kept")))
        await asyncio.sleep(0)
        cancelled.cancel()
        await kept
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        assert await count(ch, project_id) == 4  # rows already buffered are still written (idempotent)
    finally:
        await writer.close()


async def test_empty_write_returns_at_once(ch: ClickHouse) -> None:
    writer = ClickHouseWriter(ch, interval_seconds=60)
    await writer.start()
    try:
        await asyncio.wait_for(writer.write("traces", []), timeout=1)
    finally:
        await writer.close()


def test_invalid_settings_are_refused(resources: Resources) -> None:
    with pytest.raises(ValueError):
        ClickHouseWriter(resources.clickhouse, max_rows=0)
    with pytest.raises(ValueError):
        ClickHouseWriter(resources.clickhouse, max_attempts=0)

