"""The read indexes of ClickHouse migrations 0007 and 0009 answer exactly what the tables do.

GET /traces?userId=… reads trace_user_index (verified against `traces` on days where the index
holds keys that are no trace's current version); the list's per-trace figures and GET /traces/{id}
read observations and scores from their per-trace copies observations_by_trace and scores_by_trace.
Rows are seeded straight into ClickHouse, one insert per version (the indexes are fed by
materialized views)."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from langfuse_aio.domain.query_params import OrderBy, Page
from langfuse_aio.domain.trace_filters import TraceFilter
from langfuse_aio.runtime.resources import Resources
from langfuse_aio.storage.clickhouse import deletion_queries, trace_detail_queries, trace_queries, trace_user_queries
from langfuse_aio.storage.clickhouse.day_cache import DayCache
from tests.factories import TestProject
from tests.support import rows
from tests.support.http import api_get
from tests.support.rows import DAY, T0, insert_each, ts
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

TRACES = "/api/public/traces"


async def listed(client: Client, project: TestProject, params: Any) -> tuple[list[str], int]:
    status, body = await api_get(client, project, TRACES, params)
    assert status == 200, body
    return [t["id"] for t in body["data"]], body["meta"]["totalItems"]


async def test_a_trace_whose_user_changed_within_its_day_is_listed_only_under_the_new_user(
    client: Client, resources: Resources, project: TestProject
) -> None:
    ch, p = resources.clickhouse, project.id
    first = rows.trace(p, "t-moved", user_id="alice", timestamp=ts(0), event_ts=ts(0))
    await insert_each(ch, "traces", first, first | {"user_id": "bob", "event_ts": ts(5)},  # no tombstone
                      rows.trace(p, "t-alice", user_id="alice", timestamp=ts(10)),
                      rows.trace(p, "t-alice-old", user_id="alice", timestamp=ts(0) - DAY))
    assert await listed(client, project, {"userId": "alice"}) == (["t-alice", "t-alice-old"], 2)
    assert await listed(client, project, {"userId": "bob"}) == (["t-moved"], 1)
    assert await listed(client, project, {"userId": "alice", "page": 2, "limit": 1}) == (["t-alice-old"], 2)


async def test_a_trace_that_moved_day_leaves_no_trace_on_its_old_day(
    client: Client, resources: Resources, project: TestProject
) -> None:
    ch, p = resources.clickhouse, project.id
    old = rows.trace(p, "t-1", user_id="carol", timestamp=ts(0) - 2 * DAY, event_ts=ts(0))
    await insert_each(ch, "traces", old, rows.tombstone(old, ts(1)),  # as the worker writes a day change
                      old | {"timestamp": ts(0), "event_ts": ts(2), "name": "renamed"})
    status, body = await api_get(client, project, TRACES, {"userId": "carol"})
    assert status == 200
    assert [(t["id"], t["name"]) for t in body["data"]] == [("t-1", "renamed")]
    assert body["meta"]["totalItems"] == 1


async def test_deleted_traces_and_other_projects_are_not_listed(
    client: Client, resources: Resources, project: TestProject, other_project: TestProject
) -> None:
    ch, p = resources.clickhouse, project.id
    await insert_each(ch, "traces", rows.trace(p, "t-keep", user_id="dan", timestamp=ts(0)),
                      rows.trace(p, "t-gone", user_id="dan", timestamp=ts(1)),
                      rows.trace(other_project.id, "t-other", user_id="dan", timestamp=ts(2)))
    assert await listed(client, project, {"userId": "dan"}) == (["t-gone", "t-keep"], 2)
    await ch.command("DELETE FROM traces WHERE project_id = {p:String} AND id = 't-gone'", {"p": p})
    assert await listed(client, project, {"userId": "dan"}) == (["t-keep"], 1)  # index not cleaned: verified
    await deletion_queries.delete_ids(ch, "traces", p, ["t-keep"])
    assert await listed(client, project, {"userId": "dan"}) == ([], 0)
    assert await listed(client, other_project, {"userId": "dan"}) == (["t-other"], 1)


async def test_pages_counts_and_time_ranges_match_the_plain_read(resources: Resources, project: TestProject) -> None:
    """Random users, days, versions, user changes and deletions: every page of the index read equals
    the FINAL read of `traces`, both orders, with and without a time range."""
    ch, p, rnd = resources.clickhouse, project.id, random.Random(7)
    versions = []
    for n in range(120):
        row = rows.trace(p, f"t-{n:03}", user_id=rnd.choice(["u1", "u2", "u3", None]),
                         timestamp=ts(rnd.randrange(-5 * 86_400, 86_400)), event_ts=ts(0))
        versions.append(row)
        if n % 7 == 0:  # a later version with another user, same day
            versions.append(row | {"user_id": rnd.choice(["u1", "u2"]), "event_ts": ts(9)})
        if n % 11 == 0:  # deleted by a tombstone
            versions.append(rows.tombstone(row, ts(9)))
    for start in range(0, len(versions), 40):
        await ch.insert("traces", versions[start : start + 40])
    cache: DayCache[Any] = DayCache()
    windows = [(None, None), (T0 - 3 * DAY, T0 - timedelta(hours=5)), (T0 - DAY, None)]
    for user in ("u1", "u2", "u3", "nobody"):
        for low, high in windows:
            for descending in (True, False):
                flt = TraceFilter(user_id=user, from_timestamp=low, to_timestamp=high)
                order = OrderBy("timestamp", descending)
                for number in (1, 2, 3, 9):
                    page = Page(page=number, limit=7)
                    expected = await trace_queries.list_page_with_total(ch, flt, order, page, p)
                    got = await trace_user_queries.list_by_user(ch, flt, order, page, p, cache=cache)
                    assert [r["id"] for r in got[0]] == [r["id"] for r in expected[0]], (user, low, high, page)
                    assert got[1] == expected[1]
                    assert [r["name"] for r in got[0]] == [r["name"] for r in expected[0]]


async def test_list_figures_and_detail_come_from_the_latest_versions_of_the_trace_only(
    client: Client, resources: Resources, project: TestProject
) -> None:
    ch, p = resources.clickhouse, project.id
    await insert_each(ch, "traces", rows.trace(p, "t-1", user_id="erin", timestamp=ts(0) - 20 * DAY))
    gen = rows.observation(p, "o-gen", "t-1", type="GENERATION", start_time=ts(1) - 20 * DAY,
                           total_cost=Decimal("0.5"), event_ts=ts(0))
    span = rows.observation(p, "o-span", "t-1", start_time=ts(2) - 20 * DAY, event_ts=ts(0))
    await insert_each(
        ch, "observations",
        gen, gen | {"total_cost": Decimal("0.25"), "name": "v2", "event_ts": ts(3)},  # the later version wins
        span, rows.tombstone(span, ts(1)), span | {"type": "EVENT", "event_ts": ts(2)},  # type changed
        rows.observation(p, "o-other", "t-2", start_time=ts(1) - 20 * DAY, total_cost=Decimal("9")),
        rows.observation(p, "o-early", "t-1", start_time=ts(0) - 20 * DAY - timedelta(hours=2)),  # out of window
    )
    score = rows.score(p, "s-1", "t-1", timestamp=ts(4) - 20 * DAY)
    await insert_each(ch, "scores", score, rows.score(p, "s-del", "t-1", timestamp=ts(5) - 20 * DAY),
                      rows.tombstone(rows.score(p, "s-del", "t-1", timestamp=ts(5) - 20 * DAY), ts(1)),
                      rows.score(p, "s-other", "t-2", timestamp=ts(5) - 20 * DAY))
    status, body = await api_get(client, project, TRACES, {"userId": "erin"})
    assert status == 200
    (listed_trace,) = body["data"]
    assert sorted(listed_trace["observations"]) == ["o-gen", "o-span"]
    assert listed_trace["scores"] == ["s-1"]
    assert listed_trace["totalCost"] == pytest.approx(0.25)
    status, detail = await api_get(client, project, f"{TRACES}/t-1")
    assert status == 200
    assert [(o["id"], o["type"]) for o in detail["observations"]] == [("o-gen", "GENERATION"), ("o-span", "EVENT")]
    assert detail["observations"][0]["name"] == "v2"
    assert [s["id"] for s in detail["scores"]] == ["s-1"]


@pytest.mark.parametrize(("table", "index"), [
    ("traces", "trace_user_index"), ("observations", "observations_by_trace"), ("scores", "scores_by_trace")])
async def test_each_index_has_every_column_of_its_table(resources: Resources, table: str, index: str) -> None:
    """A column added to a table must reach its index (the index's rows are what the API shows)."""
    described = {}
    for name in (table, index):
        found = await resources.clickhouse.query(f"DESCRIBE TABLE {name}")
        described[name] = {r["name"]: r["type"].removeprefix("Nullable(").removesuffix(")") for r in found}
    assert described[index] == described[table]


async def test_a_deleted_trace_observation_or_score_leaves_none_of_its_content_in_the_indexes(
    client: Client, resources: Resources, project: TestProject
) -> None:
    """The indexes get a tombstone, not a DELETE: it must not carry what the user asked to remove."""
    ch, p = resources.clickhouse, project.id
    secret = {"input": '"secret in"', "output": '"secret out"', "metadata": {"k": "secret"}}
    await insert_each(ch, "traces", rows.trace(p, "t-1", user_id="gil", timestamp=ts(0)) | secret)
    obs = rows.observation(p, "o-1", "t-1", start_time=ts(1))
    await insert_each(ch, "observations", obs | secret | {"status_message": "secret"})
    await insert_each(ch, "scores", rows.score(p, "s-1", "t-1", timestamp=ts(2)) | {"comment": "secret"})
    for table, ids in (("observations", ["o-1"]), ("scores", ["s-1"])):
        await deletion_queries.delete_ids(ch, table, p, ids)
    status, detail = await api_get(client, project, f"{TRACES}/t-1")
    assert status == 200 and detail["observations"] == [] and detail["scores"] == []
    await deletion_queries.delete_ids(ch, "traces", p, ["t-1"])
    assert await listed(client, project, {"userId": "gil"}) == ([], 0)
    for index in ("trace_user_index", "observations_by_trace", "scores_by_trace"):
        await ch.command(f"OPTIMIZE TABLE {index} FINAL")  # what background merges do in time
        (left,) = await ch.query(f"SELECT * FROM {index} WHERE project_id = {{p:String}}", {"p": p})
        assert left["is_deleted"] == 1
        assert "secret" not in repr(left)


async def test_list_totals_follow_writes_and_deletes_on_any_day(
    client: Client, resources: Resources, project: TestProject
) -> None:
    """The per-day counts behind `totalItems` are cached per day; a write to an old day shows at once."""
    ch, p = resources.clickhouse, project.id
    await insert_each(ch, "traces", rows.trace(p, "t-new", timestamp=ts(0)),
                      rows.trace(p, "t-old", timestamp=ts(0) - 9 * DAY))
    assert await listed(client, project, {"limit": 1}) == (["t-new"], 2)
    await insert_each(ch, "traces", rows.trace(p, "t-older", timestamp=ts(0) - 12 * DAY))
    assert await listed(client, project, {"limit": 1}) == (["t-new"], 3)
    assert await listed(client, project, {"limit": 1, "page": 3}) == (["t-older"], 3)
    await deletion_queries.delete_ids(ch, "traces", p, ["t-old"])
    assert await listed(client, project, {"limit": 1, "page": 2}) == (["t-older"], 2)
    window = {"fromTimestamp": (T0 - 13 * DAY).isoformat(), "toTimestamp": (T0 - 11 * DAY).isoformat()}
    assert await listed(client, project, window) == (["t-older"], 1)


async def test_a_deleted_trace_created_again_lists_none_of_its_old_observations_and_scores(
    client: Client, resources: Resources, project: TestProject
) -> None:
    """Late events after a trace deletion make a new trace under the old id; the indexes lose the
    deleted rows too (their DELETE runs asynchronously)."""
    ch, p = resources.clickhouse, project.id
    await insert_each(ch, "traces", rows.trace(p, "t-1", user_id="fay", timestamp=ts(0)))
    await insert_each(ch, "observations", rows.observation(p, "o-1", "t-1", start_time=ts(1)))
    await insert_each(ch, "scores", rows.score(p, "s-1", "t-1", timestamp=ts(2)))
    for table, ids in (("traces", ["t-1"]), ("observations", ["o-1"]), ("scores", ["s-1"])):
        await deletion_queries.delete_ids(ch, table, p, ids)
    assert await listed(client, project, {"userId": "fay"}) == ([], 0)
    await insert_each(ch, "traces", rows.trace(p, "t-1", user_id="fay", timestamp=ts(0), event_ts=ts(60)))

    async def figures() -> tuple[list[str], list[str]] | None:
        status, body = await api_get(client, project, TRACES, {"userId": "fay"})
        assert status == 200 and len(body["data"]) == 1
        found = (body["data"][0]["observations"], body["data"][0]["scores"])
        return found if found == ([], []) else None

    assert await eventually(figures, what="no observations or scores of the deleted trace") == ([], [])


async def test_a_trace_with_more_versions_than_the_caps_still_shows_its_latest_rows(
    client: Client, resources: Resources, project: TestProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past a cap, versions are deduplicated in ClickHouse instead of here: the answer is the same."""
    ch, p = resources.clickhouse, project.id
    monkeypatch.setattr(trace_detail_queries, "_TRACE_VERSIONS_CAP", 2)
    monkeypatch.setattr(trace_detail_queries, "_VERSIONS_CAP", 2)
    trace = rows.trace(p, "t-1", timestamp=ts(0), event_ts=ts(0))
    obs = rows.observation(p, "o-1", "t-1", start_time=ts(1), event_ts=ts(0))
    score = rows.score(p, "s-1", "t-1", timestamp=ts(2), event_ts=ts(0))
    await insert_each(ch, "traces", *(trace | {"name": f"v{n}", "event_ts": ts(n)} for n in (3, 1, 2)))
    await insert_each(ch, "observations", *(obs | {"name": f"v{n}", "event_ts": ts(n)} for n in (1, 3, 2)),
                      rows.observation(p, "o-2", "t-1", start_time=ts(2)))
    await insert_each(ch, "scores", *(score | {"value": float(n), "event_ts": ts(n)} for n in (2, 3, 1)))
    status, detail = await api_get(client, project, f"{TRACES}/t-1")
    assert status == 200
    assert detail["name"] == "v3"
    assert [(o["id"], o["name"]) for o in detail["observations"]] == [("o-1", "v3"), ("o-2", "o")]
    assert [(s["id"], s["value"]) for s in detail["scores"]] == [("s-1", 3.0)]
