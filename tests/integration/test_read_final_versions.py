"""The `FINAL` reads (trace pages and counts, observation and score counts, daily metrics) see only
the latest version of a row whose timestamp moved within its day: its sorting key did not change,
so nothing tombstones the old version, and a time filter must not pick that older version."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from quart.typing import TestClientProtocol as Client

from langfuse_aio.domain.api_views import format_datetime
from langfuse_aio.runtime.resources import Resources
from tests.factories import TestProject
from tests.support import rows
from tests.support.rows import insert_each, ts

pytestmark = pytest.mark.integration

BETWEEN = format_datetime(ts(1800))  # half an hour after T0: the moved versions are on either side


async def get(client: Client, project: TestProject, path: str, params: dict[str, Any]) -> Any:
    response = await client.get(f"{path}?{urlencode(params)}", headers=project.basic)
    assert response.status_code == 200
    return await response.get_json()


async def test_trace_whose_timestamp_moved_within_its_day_is_listed_by_its_latest_timestamp(
    client: Client, project: TestProject, resources: Resources
) -> None:
    p = project.id
    older = rows.trace(p, "t-moved", timestamp=ts(3600), event_ts=ts(0))
    await insert_each(resources.clickhouse, "traces", older, older | {"timestamp": ts(0), "event_ts": ts(5)},
                      rows.trace(p, "t-other", timestamp=ts(7200)))
    after = await get(client, project, "/api/public/traces", {"fromTimestamp": BETWEEN, "limit": 1})
    assert [t["id"] for t in after["data"]] == ["t-other"] and after["meta"]["totalItems"] == 1
    before = await get(client, project, "/api/public/traces", {"toTimestamp": BETWEEN})
    assert [(t["id"], t["timestamp"]) for t in before["data"]] == [("t-moved", format_datetime(ts(0)))]
    daily = await get(client, project, "/api/public/metrics/daily", {"fromTimestamp": BETWEEN})
    assert sum(day["countTraces"] for day in daily["data"]) == 1


async def test_observation_and_score_counts_follow_the_latest_timestamp(
    client: Client, project: TestProject, resources: Resources
) -> None:
    p, ch = project.id, resources.clickhouse
    await insert_each(ch, "traces", rows.trace(p, "t"))
    obs = rows.observation(p, "o-moved", "t", start_time=ts(3600), event_ts=ts(0))
    await insert_each(ch, "observations", obs, obs | {"start_time": ts(0), "event_ts": ts(5)},
                      *(rows.observation(p, f"o-{n}", "t", start_time=ts(7200 + n)) for n in range(3)))
    listed = await get(client, project, "/api/public/observations", {"fromStartTime": BETWEEN, "limit": 2})
    assert listed["meta"]["totalItems"] == 3  # a full page: the count is read, not inferred
    score = rows.score(p, "s-moved", "t", timestamp=ts(3600), event_ts=ts(0))
    await insert_each(ch, "scores", score, score | {"timestamp": ts(0), "event_ts": ts(5)},
                      *(rows.score(p, f"s-{n}", "t", timestamp=ts(7200 + n)) for n in range(3)))
    scores = await get(client, project, "/api/public/v2/scores", {"fromTimestamp": BETWEEN, "limit": 2})
    assert scores["meta"]["totalItems"] == 3
