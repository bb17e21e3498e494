"""Latest-version reads against the store set's ClickHouse: versions, tombstones, project isolation.

Each version is inserted on its own, so it lands in its own part and nothing is merged yet: the
reads must deduplicate by themselves."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from langfuse_aio.runtime.resources import Resources
from langfuse_aio.storage.clickhouse import repositories
from langfuse_aio.storage.clickhouse.base import ClickHouse
from langfuse_aio.storage.clickhouse.repositories import (
    fetch_current_rows,
    get_trace,
    list_observations_for_trace,
    list_scores_for_trace,
)
from tests.support.rows import T0, insert_each, observation, score, tombstone, trace, ts

pytestmark = pytest.mark.integration

DAY = timedelta(days=1)


@pytest.fixture
def ch(resources: Resources) -> ClickHouse:
    return resources.clickhouse


@pytest.fixture
def pid() -> str:
    return f"proj-{uuid.uuid4().hex[:12]}"


# --- traces and fetch_current_rows ----------------------------------------------------------


async def test_the_latest_version_wins(ch: ClickHouse, pid: str) -> None:
    await insert_each(
        ch, "traces",
        trace(pid, "a", name="second", event_ts=ts(2)),
        trace(pid, "a", name="third", event_ts=ts(3)),
        trace(pid, "a", name="first", event_ts=ts(1)),
        trace(pid, "b", name="only"),
    )
    found = await get_trace(ch, pid, "a")
    assert found is not None and found["name"] == "third"
    current = await fetch_current_rows(ch, "traces", pid, ["a", "b", "missing", "a"])
    assert {k: v["name"] for k, v in current.items()} == {"a": "third", "b": "only"}
    assert current["a"]["event_ts"] == ts(3)
    assert await get_trace(ch, pid, "missing") is None
    assert await fetch_current_rows(ch, "traces", pid, []) == {}


async def test_a_tombstone_hides_the_old_sort_key_version(ch: ClickHouse, pid: str) -> None:
    old = trace(pid, "moved", name="old", event_ts=ts(1))
    new = trace(pid, "moved", name="new", timestamp=T0 + DAY, event_ts=ts(3))  # another day: another sort key
    await insert_each(ch, "traces", old, tombstone(old, ts(2)), new)
    found = await get_trace(ch, pid, "moved")
    assert found is not None and (found["name"], found["timestamp"]) == ("new", T0 + DAY)
    assert list(await fetch_current_rows(ch, "traces", pid, ["moved"])) == ["moved"]


async def test_a_moved_row_reads_right_without_its_tombstone_and_with_an_equal_event_ts(
    ch: ClickHouse, pid: str
) -> None:
    # no tombstone at all: FINAL would return both sort keys; LIMIT 1 BY id returns the latest
    await insert_each(ch, "traces", trace(pid, "x", name="old", event_ts=ts(1)),
                      trace(pid, "x", name="new", timestamp=T0 + DAY, event_ts=ts(2)))
    found = await get_trace(ch, pid, "x")
    assert found is not None and found["name"] == "new"
    # a tombstone stamped with its replacement's event_ts does not hide the replacement
    old = trace(pid, "y", name="old", event_ts=ts(1))
    await insert_each(ch, "traces", old, trace(pid, "y", name="new", timestamp=T0 + DAY, event_ts=ts(2)),
                      tombstone(old, ts(2)))
    found = await get_trace(ch, pid, "y")
    assert found is not None and found["name"] == "new"


async def test_a_deleted_row_is_gone_and_its_older_versions_stay_hidden(ch: ClickHouse, pid: str) -> None:
    v1 = trace(pid, "gone", name="v1", event_ts=ts(1))
    v2 = trace(pid, "gone", name="v2", event_ts=ts(2))
    await insert_each(ch, "traces", v1, v2, tombstone(v2, ts(3)), trace(pid, "kept"))
    assert await get_trace(ch, pid, "gone") is None
    assert list(await fetch_current_rows(ch, "traces", pid, ["gone", "kept"])) == ["kept"]
    # written again after the delete: visible again
    await ch.insert("traces", [trace(pid, "gone", name="v3", event_ts=ts(4))])
    found = await get_trace(ch, pid, "gone")
    assert found is not None and found["name"] == "v3"


async def test_projects_are_isolated(ch: ClickHouse, pid: str) -> None:
    other = f"{pid}-other"
    await insert_each(
        ch, "traces",
        trace(pid, "shared", name="mine"),
        trace(other, "shared", name="theirs", event_ts=ts(9)),
        trace(other, "only-theirs"),
    )
    await insert_each(ch, "observations", observation(pid, "o", "shared"),
                      observation(other, "o", "shared", name="theirs", event_ts=ts(9)))
    await insert_each(ch, "scores", score(pid, "s", "shared"), score(other, "s2", "shared"))
    found = await get_trace(ch, pid, "shared")
    assert found is not None and found["name"] == "mine"
    assert await get_trace(ch, pid, "only-theirs") is None
    assert list(await fetch_current_rows(ch, "traces", pid, ["shared", "only-theirs"])) == ["shared"]
    assert [(o["id"], o["name"]) for o in await list_observations_for_trace(ch, pid, "shared")] == [("o", "o")]
    assert [s["id"] for s in await list_scores_for_trace(ch, pid, "shared")] == ["s"]


async def test_many_ids_are_fetched_in_chunks(ch: ClickHouse, pid: str, monkeypatch: pytest.MonkeyPatch) -> None:
    await ch.insert("observations", [observation(pid, f"o{i}", "t") for i in range(7)])
    monkeypatch.setattr(repositories, "IDS_PER_QUERY", 3)
    current = await fetch_current_rows(ch, "observations", pid, [f"o{i}" for i in range(9)])
    assert sorted(current) == [f"o{i}" for i in range(7)]


async def test_only_known_tables(ch: ClickHouse, pid: str) -> None:
    with pytest.raises(ValueError, match="unknown ClickHouse table"):
        await fetch_current_rows(ch, "traces; DROP TABLE traces", pid, ["x"])


# --- per-trace lists ------------------------------------------------------------------------


async def test_observations_of_a_trace_latest_live_versions_by_start_time(ch: ClickHouse, pid: str) -> None:
    span = observation(pid, "changed-type", "t1", type="SPAN", event_ts=ts(1))
    await insert_each(
        ch, "observations",
        observation(pid, "late", "t1", start_time=ts(5), name="late-v1", event_ts=ts(1)),
        observation(pid, "late", "t1", start_time=ts(5), name="late-v2", event_ts=ts(2)),
        observation(pid, "early", "t1", start_time=ts(-5)),
        span,
        tombstone(span, ts(2)),  # the type is in the sort key: the old key gets a tombstone
        observation(pid, "changed-type", "t1", type="GENERATION", event_ts=ts(3)),
        observation(pid, "deleted", "t1", start_time=ts(1)),
        tombstone(observation(pid, "deleted", "t1", start_time=ts(1)), ts(1)),
        observation(pid, "other-trace", "t2"),
    )
    rows = await list_observations_for_trace(ch, pid, "t1")
    assert [(r["id"], r["name"], r["type"]) for r in rows] == [
        ("early", "o", "SPAN"),
        ("changed-type", "o", "GENERATION"),
        ("late", "late-v2", "SPAN"),
    ]
    assert all(r["is_deleted"] == 0 for r in rows)
    assert await list_observations_for_trace(ch, pid, "nothing") == []


async def test_scores_of_a_trace_latest_live_versions_newest_first(ch: ClickHouse, pid: str) -> None:
    renamed = score(pid, "renamed", "t1", name="old-name", timestamp=ts(1), event_ts=ts(1))
    await insert_each(
        ch, "scores",
        score(pid, "older", "t1", timestamp=ts(-10), value=1.0, event_ts=ts(1)),
        score(pid, "older", "t1", timestamp=ts(-10), value=2.0, event_ts=ts(2)),
        renamed,
        tombstone(renamed, ts(2)),  # the name is in the sort key
        score(pid, "renamed", "t1", name="new-name", timestamp=ts(1), event_ts=ts(3)),
        score(pid, "deleted", "t1", timestamp=ts(5)),
        tombstone(score(pid, "deleted", "t1", timestamp=ts(5)), ts(1)),
        score(pid, "elsewhere", "t2"),
    )
    rows = await list_scores_for_trace(ch, pid, "t1")
    assert [(r["id"], r["name"], r["value"]) for r in rows] == [
        ("renamed", "new-name", 1.0),
        ("older", "quality", 2.0),
    ]
