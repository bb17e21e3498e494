"""CurrentRowReader: concurrent jobs' current-row reads share queries, and each job gets its own rows."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from langfuse_aio.runtime.resources import Resources
from langfuse_aio.storage.clickhouse.base import ClickHouse, ClickHouseError, Params, Row
from langfuse_aio.storage.clickhouse.row_reader import CurrentRowReader
from tests.support.rows import insert_each, observation, tombstone, trace, ts

pytestmark = pytest.mark.integration


class Counting:
    """The real ClickHouse, counting the queries that reach it."""

    def __init__(self, ch: ClickHouse) -> None:
        self.ch = ch
        self.database = ch.database
        self.queries = 0

    async def query(self, sql: str, params: Params | None = None) -> list[Row]:
        self.queries += 1
        return await self.ch.query(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.ch, name)


async def test_concurrent_reads_share_one_query_per_table_and_project(resources: Resources) -> None:
    ch = resources.clickhouse
    pid, other = (f"proj-{uuid.uuid4().hex[:12]}" for _ in range(2))
    await insert_each(ch, "traces", trace(pid, "t1", name="one"), trace(pid, "t2", name="two"),
                      trace(other, "t1", name="other project"))
    gone = trace(pid, "t3", name="deleted")
    await insert_each(ch, "traces", gone, tombstone(gone, ts(10)))
    await insert_each(ch, "observations", observation(pid, "o1", "t1", name="obs"))
    counting = Counting(ch)
    reader = CurrentRowReader(counting)  # type: ignore[arg-type]

    a, b, c, d, e = await asyncio.gather(
        reader.fetch("traces", pid, ["t1", "missing"]),
        reader.fetch("traces", pid, ["t2", "t3"]),
        reader.fetch("traces", other, ["t1", "t2"]),
        reader.fetch("observations", pid, ["o1"]),
        reader.fetch("traces", pid, []),
    )

    assert {k: v["name"] for k, v in a.items()} == {"t1": "one"}
    assert {k: v["name"] for k, v in b.items()} == {"t2": "two"}  # the tombstoned t3 is absent
    assert {k: v["name"] for k, v in c.items()} == {"t1": "other project"}
    assert {k: v["name"] for k, v in d.items()} == {"o1": "obs"}
    assert e == {}
    assert counting.queries == 3  # traces of pid, traces of other, observations of pid


async def test_a_failed_query_fails_every_caller_of_its_round_and_the_reader_recovers(resources: Resources) -> None:
    pid = f"proj-{uuid.uuid4().hex[:12]}"
    await insert_each(resources.clickhouse, "traces", trace(pid, "t1", name="one"))
    reader = CurrentRowReader(resources.clickhouse)

    results = await asyncio.gather(
        reader.fetch("no_such_table", pid, ["t1"]), reader.fetch("no_such_table", pid, ["t2"]),
        reader.fetch("traces", pid, ["t1"]), return_exceptions=True,
    )
    assert all(isinstance(r, ValueError) for r in results[:2])  # unknown table: refused before any SQL
    assert isinstance(results[2], dict) and set(results[2]) == {"t1"}

    class Down(Counting):
        async def query(self, sql: str, params: Params | None = None) -> list[Row]:
            raise ClickHouseError("down")

    down = CurrentRowReader(Down(resources.clickhouse))  # type: ignore[arg-type]
    failed = await asyncio.gather(down.fetch("traces", pid, ["t1"]), down.fetch("traces", pid, ["t2"]),
                                  return_exceptions=True)
    assert all(isinstance(r, ClickHouseError) for r in failed)
    assert set(await reader.fetch("traces", pid, ["t1"])) == {"t1"}
