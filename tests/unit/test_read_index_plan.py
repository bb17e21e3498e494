"""The read-index backfill's chunks and cursor: every row of every partition once, resumable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from langfuse_aio.migrations.background.read_index_plan import (
    SOURCES,
    Chunk,
    Cursor,
    cursor_after,
    month_of,
    plan,
    slices,
)

NOV = datetime(2024, 11, 1)
DEC = datetime(2024, 12, 1)


def covers(chunks: list[Chunk], partition: str, moment: datetime) -> int:
    """How many of `chunks` select a row of `partition` stamped `moment`."""
    return sum(1 for c in chunks if c.partition == partition and (c.low is None or c.low <= moment)
               and (c.high is None or moment < c.high))


def test_a_small_partition_is_one_chunk_and_a_large_one_contiguous_hour_slices() -> None:
    assert slices("202411", 10, 100) == [Chunk("202411")]
    assert slices("202411", 0, 100) == [Chunk("202411")]
    chunks = slices("202411", 1_000, 300)
    assert len(chunks) == 4
    assert chunks[0].low is None and chunks[-1].high is None  # open ends: nothing of the partition left out
    assert [c.high for c in chunks[:-1]] == [c.low for c in chunks[1:]]
    assert chunks[1].low == NOV + timedelta(hours=180)  # 720 hours in November, in quarters
    assert all(c.low is None or c.low.minute == c.low.second == 0 for c in chunks)


def test_slices_stop_at_one_hour_and_other_partition_ids_stay_whole() -> None:
    assert len(slices("202402", 10**9, 1)) == 29 * 24
    assert month_of("202413") is None and month_of("tuple()") is None and month_of("2024") is None
    assert slices("all", 10**9, 1) == [Chunk("all")]
    assert month_of("202412") == DEC


def test_every_moment_is_in_exactly_one_chunk() -> None:
    chunks = plan({"202412": 50, "202411": 1_000}, 300, None)
    assert [c.partition for c in chunks] == ["202411"] * 4 + ["202412"]
    for hours in range(0, 24 * 30, 7):
        assert covers(chunks, "202411", NOV + timedelta(hours=hours, minutes=59)) == 1
    assert covers(chunks, "202411", NOV - timedelta(days=3)) == 1  # a server in another zone: still covered
    assert covers(chunks, "202412", DEC + timedelta(days=40)) == 1


def test_a_resumed_plan_skips_what_the_cursor_covers_even_when_sliced_differently() -> None:
    first = plan({"202410": 5, "202411": 1_000}, 300, None)
    cursor = cursor_after(first[2])  # 202410 whole, then two of the four November slices
    assert cursor == Cursor("202411", NOV + timedelta(hours=360))
    again = plan({"202410": 5, "202411": 1_000}, 300, cursor)
    assert again == first[3:]
    finer = plan({"202410": 5, "202411": 1_000, "202412": 1}, 200, cursor)  # five slices now, and a new month
    assert finer[0] == Chunk("202411", NOV + timedelta(hours=360), NOV + timedelta(hours=432))
    assert [c.partition for c in finer] == ["202411"] * 3 + ["202412"]
    assert covers(finer, "202411", NOV + timedelta(hours=359)) == 0
    assert covers(finer, "202411", NOV + timedelta(hours=360)) == 1
    assert plan({"202411": 1_000}, 300, cursor_after(first[-1])) == []  # the partition is done


def test_the_cursor_survives_the_state_json() -> None:
    for cursor in (Cursor("202411", None), Cursor("202411", NOV + timedelta(hours=5, milliseconds=7))):
        assert Cursor.from_state(cursor.to_state()) == cursor
    assert Cursor("202411", NOV).to_state() == {"partition": "202411", "before": "2024-11-01T00:00:00.000Z"}
    assert Cursor.from_state(None) is None and Cursor.from_state({"before": None}) is None


def test_a_chunk_selects_its_partition_and_bounds_with_bound_parameters() -> None:
    observations = next(s for s in SOURCES if s.table == "observations")
    condition, params = Chunk("202411", NOV, None).condition(observations)
    assert condition == "_partition_id = {partition:String} AND observations.start_time >= {low:DateTime64(3)}"
    assert params == {"partition": "202411", "low": NOV.replace(tzinfo=UTC)}
