"""GET /metrics/daily keeps each day's figures while that day's parts are unchanged: any write, by
the worker or straight into ClickHouse, and any delete shows at once, and only changed days are
computed again."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from arq.worker import Worker
from quart.typing import TestClientProtocol as Client

from langfuse_aio.runtime.resources import Resources
from langfuse_aio.storage.clickhouse import deletion_queries
from langfuse_aio.storage.clickhouse.day_cache import DayCache
from langfuse_aio.storage.clickhouse.metrics_queries import DayFigures, figures_of_days
from tests.factories import TestProject
from tests.support import rows
from tests.support.http import api_get
from tests.support.rows import DAY, insert_each, ts
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

METRICS = "/api/public/metrics/daily"


async def daily(client: Client, project: TestProject) -> list[tuple[str, int, int, float]]:
    status, body = await api_get(client, project, METRICS)
    assert status == 200, body
    return [(d["date"], d["countTraces"], d["countObservations"], d["totalCost"]) for d in body["data"]]


def day(offset: int) -> str:
    return (ts(0) + offset * DAY).date().isoformat()


async def test_rows_written_straight_into_clickhouse_and_deletes_show_at_once(
    client: Client, resources: Resources, project: TestProject
) -> None:
    ch, p = resources.clickhouse, project.id
    await insert_each(ch, "traces", rows.trace(p, "t-1", timestamp=ts(0)), rows.trace(p, "t-2", timestamp=ts(0) - DAY))
    await insert_each(ch, "observations", rows.observation(p, "o-1", "t-1", start_time=ts(1), total_cost=Decimal(1)))
    assert await daily(client, project) == [(day(0), 1, 1, 1.0), (day(-1), 1, 0, 0.0)]
    await insert_each(ch, "traces", rows.trace(p, "t-3", timestamp=ts(5) - 3 * DAY))  # an old day, no writer
    await insert_each(ch, "observations",
                      rows.observation(p, "o-2", "t-2", start_time=ts(2) - DAY, total_cost=Decimal(2)))
    assert await daily(client, project) == [(day(0), 1, 1, 1.0), (day(-1), 1, 1, 2.0), (day(-3), 1, 0, 0.0)]
    await deletion_queries.delete_ids(ch, "traces", p, ["t-2"])
    await deletion_queries.delete_ids(ch, "observations", p, ["o-2"])
    assert await daily(client, project) == [(day(0), 1, 1, 1.0), (day(-3), 1, 0, 0.0)]
    gone = rows.trace(p, "t-3", timestamp=ts(5) - 3 * DAY)
    await insert_each(ch, "traces", rows.tombstone(gone, ts(9)))
    assert await daily(client, project) == [(day(0), 1, 1, 1.0)]


async def test_traces_written_by_the_worker_show_in_the_next_call(
    client: Client, project: TestProject, worker: Worker
) -> None:
    before = await daily(client, project)
    event = {"id": "ev-1", "type": "trace-create", "timestamp": "2026-01-05T10:00:00.000Z",
             "body": {"id": "tr-live", "timestamp": "2026-01-05T10:00:00.000Z"}}
    response = await client.post("/api/public/ingestion", json={"batch": [event]}, headers=project.basic)
    assert response.status_code == 207

    async def counted() -> list[Any] | None:
        now = await daily(client, project)
        return now if now != before else None

    assert await eventually(counted, what="the new trace counted") == [("2026-01-05", 1, 0, 0.0)]


async def test_only_days_whose_parts_changed_are_computed_again(resources: Resources, project: TestProject) -> None:
    ch, p = resources.clickhouse, project.id
    tables = ("traces", "observations")
    computed: list[list[date]] = []

    async def compute(days: list[date]) -> dict[date, DayFigures]:
        computed.append(days)
        return await figures_of_days(ch, p, days)

    cache: DayCache[DayFigures] = DayCache()
    for table in tables:  # a merge would rename parts of several days: keep this test to inserts
        await ch.command(f"SYSTEM STOP MERGES {table}")
    try:
        for n in range(4):
            await insert_each(ch, "traces", rows.trace(p, f"t-{n}", timestamp=ts(0) - (10 + n) * DAY))
        first = await cache.per_day(ch, tables, "k", compute, empty=DayFigures())
        assert {d: f.traces for d, f in first.items() if f.traces} == {
            (ts(0) - (10 + n) * DAY).date(): 1 for n in range(4)}
        assert await cache.per_day(ch, tables, "k", compute, empty=DayFigures()) == first
        assert len(computed) == 1  # nothing changed: nothing computed
        await insert_each(ch, "traces", rows.trace(p, "t-new", timestamp=ts(0) - 11 * DAY))
        again = await cache.per_day(ch, tables, "k", compute, empty=DayFigures())
    finally:
        for table in tables:
            await ch.command(f"SYSTEM START MERGES {table}")
    assert computed[1] == [(ts(0) - 11 * DAY).date()]
    assert again[(ts(0) - 11 * DAY).date()].traces == 2
    assert {d: f for d, f in again.items() if d != (ts(0) - 11 * DAY).date()} == {
        d: f for d, f in first.items() if d != (ts(0) - 11 * DAY).date()}
