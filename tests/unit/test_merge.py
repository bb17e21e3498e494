"""The pure merge step: order independence, upstream-bug fixes, immutables, versions and tombstones."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from langfuse_aio.domain.merge import UnprocessableEntity
from tests.unit.merge_helpers import NOW, PROJECT, at, event, merge, ts, without_versions

MS = timedelta(milliseconds=1)


def generation_events() -> list[dict[str, Any]]:
    create = event(
        "generation-create", at(10), id="gen-1", traceId="trace-1", name="llm-call", startTime=at(9),
        model="gpt-4o", input=[{"role": "user", "content": "2+2?"}], metadata={"a": 1}, level="DEBUG",
        usage={"input": 5, "output": 7, "unit": "TOKENS"},
    )
    update1 = event("generation-update", at(12), id="gen-1", traceId="trace-1", output={"content": "4"},
                    metadata={"b": "x"}, endTime=at(11))
    update2 = event("generation-update", at(13), id="gen-1", statusMessage="done", level="WARNING")
    return [create, update1, update2]


# -- order independence and idempotency ------------------------------------------------------------


def test_create_then_updates_in_any_input_order_give_the_same_row() -> None:
    events = generation_events()
    rows = [merge("observation", "gen-1", list(order)).row for order in itertools.permutations(events)]
    assert all(row == rows[0] for row in rows)
    row = rows[0]
    assert row["project_id"] == PROJECT
    assert row["id"] == "gen-1"
    assert row["trace_id"] == "trace-1"
    assert row["type"] == "GENERATION"
    assert row["start_time"] == ts(9)
    assert row["end_time"] == ts(11)
    assert row["name"] == "llm-call"
    assert row["level"] == "WARNING"
    assert row["status_message"] == "done"
    assert row["input"] == '[{"role":"user","content":"2+2?"}]'
    assert row["output"] == '{"content":"4"}'
    assert row["metadata"] == {"a": "1", "b": "x"}
    assert row["provided_usage_details"] == {"input": 5, "output": 7, "total": 12}
    assert row["usage_details"] == {"input": 5, "output": 7, "total": 12}
    assert row["event_ts"] == NOW
    assert row["created_at"] == row["updated_at"] == NOW
    assert row["is_deleted"] == 0
    assert row["environment"] == "default"


def test_the_same_event_twice_gives_the_same_row_as_once() -> None:
    events = generation_events()
    once = merge("observation", "gen-1", events).row
    twice = merge("observation", "gen-1", events + events).row
    assert twice == once


def test_merging_again_over_its_own_row_changes_nothing_but_versions() -> None:
    events = generation_events()
    first = merge("observation", "gen-1", events).row
    later = NOW + timedelta(minutes=1)
    again = merge("observation", "gen-1", events, first, now=later)
    assert again.tombstones == []
    assert without_versions(again.row) == without_versions(first)
    assert again.row["created_at"] == NOW
    assert again.row["updated_at"] == again.row["event_ts"] == later


def test_merging_in_separate_jobs_converges_to_the_single_merge() -> None:
    events = generation_events()
    whole = merge("observation", "gen-1", events).row
    for order in itertools.permutations(events):
        current = None
        seen: list[dict[str, Any]] = []
        for step, item in enumerate(order):
            seen.append(item)
            current = merge("observation", "gen-1", seen, current, now=NOW + step * MS).row
        assert current is not None
        assert without_versions(current) == without_versions(whole)


# -- update before create (the JS SDK sends them so) -----------------------------------------------


@pytest.mark.parametrize("update_offset", [-0.5, 0.0, 0.5])
def test_generation_update_before_or_after_its_create(update_offset: float) -> None:
    update = event("generation-update", at(10 + update_offset), id="g", traceId="t", output={"c": "4"},
                   usageDetails={"input": 12, "output": 3, "total": 15},
                   costDetails={"input": 0.0001, "output": 0.0002}, endTime=at(9))
    create = event("generation-create", at(10), id="g", traceId="t", startTime=at(9), name="llm-call",
                   input="hi", model="gpt-4o", completionStartTime=at(9))
    row = merge("observation", "g", [update, create]).row
    assert row["start_time"] == ts(9)
    assert row["name"] == "llm-call"
    assert row["output"] == '{"c":"4"}'
    assert row["input"] == "hi"
    assert row["usage_details"] == {"input": 12, "output": 3, "total": 15}
    assert row["total_cost"] is not None and str(row["total_cost"]) == "0.000300000000"


def test_update_merged_alone_first_is_completed_by_the_late_create() -> None:
    update = event("span-update", at(30), id="s", output="done")  # no traceId, no startTime
    create = event("span-create", at(5), id="s", traceId="trace-9", startTime=at(4), name="work")
    partial = merge("observation", "s", [update]).row
    assert partial["trace_id"] == ""  # never a random uuid
    assert partial["start_time"] == ts(30)  # only defaulted to the envelope time
    full = merge("observation", "s", [update, create], partial, now=NOW + MS)
    assert full.row["trace_id"] == "trace-9"  # the explicit value replaces the defaulted ones
    assert full.row["start_time"] == ts(4)
    assert full.row["name"] == "work"
    assert full.row["output"] == "done"
    assert full.tombstones == []  # same day, same type: same sorting key
    assert without_versions(full.row) == without_versions(merge("observation", "s", [create, update]).row)


def test_orphan_observation_keeps_an_empty_trace_id_until_one_arrives() -> None:
    orphan = event("event-create", at(1), id="e", name="ping")
    assert merge("observation", "e", [orphan]).row["trace_id"] == ""
    assert merge("observation", "e", [orphan], {**merge("observation", "e", [orphan]).row}).row["trace_id"] == ""


# -- upstream bugs we do not copy (§3.8) -----------------------------------------------------------


def test_upstream_bug_level_is_kept_when_an_update_lacks_it() -> None:
    create = event("span-create", at(1), id="s", traceId="t", level="ERROR", statusMessage="boom")
    update = event("span-update", at(2), id="s", endTime=at(3))
    assert merge("observation", "s", [create, update]).row["level"] == "ERROR"
    current = merge("observation", "s", [create]).row
    assert merge("observation", "s", [update], current).row["level"] == "ERROR"


def test_level_defaults_to_default_only_when_nothing_set_it() -> None:
    row = merge("observation", "s", [event("span-create", at(1), id="s", traceId="t")]).row
    assert row["level"] == "DEFAULT"


def test_upstream_bug_public_and_bookmarked_are_kept_by_later_trace_events() -> None:
    first = event("trace-create", at(1), id="t", name="n", public=True)
    later = event("trace-create", at(2), id="t", userId="u")
    row = merge("trace", "t", [first, later]).row
    assert row["public"] is True
    assert row["bookmarked"] is False
    current = {**row, "bookmarked": True}  # set in the UI
    again = merge("trace", "t", [first, later], current, now=NOW + MS).row
    assert again["bookmarked"] is True
    assert again["public"] is True
    unpublish = event("trace-create", at(3), id="t", public=False)
    assert merge("trace", "t", [first, later, unpublish], current).row["public"] is False


def test_upstream_bug_config_id_is_persisted_for_scores() -> None:
    score = event("score-create", at(1), id="sc", traceId="t", name="quality", value=0.5, configId="cfg-1",
                  source="API")
    assert merge("score", "sc", [score]).row["config_id"] == "cfg-1"


# -- immutables, environment, current row ----------------------------------------------------------


def test_trace_timestamp_is_the_first_explicit_one() -> None:
    first = event("trace-create", at(10), id="t", timestamp=at(1), name="a")
    second = event("trace-create", at(11), id="t", timestamp=at(2), name="b")
    row = merge("trace", "t", [second, first]).row
    assert row["timestamp"] == ts(1)
    assert row["name"] == "b"


def test_trace_timestamp_defaults_to_the_envelope_time() -> None:
    row = merge("trace", "t", [event("trace-create", "2026-11-28T15:00:01.123456+01:00", id="t")]).row
    assert row["timestamp"] == datetime(2026, 11, 28, 14, 0, 1, 123000, tzinfo=UTC)
    assert row["name"] == ""
    assert row["tags"] == []
    assert row["metadata"] == {}


def test_environment_is_immutable_after_first_write() -> None:
    first = event("trace-create", at(1), id="t", environment="production")
    second = event("trace-create", at(2), id="t", environment="staging")
    assert merge("trace", "t", [second, first]).row["environment"] == "production"
    current = merge("trace", "t", [first]).row
    assert merge("trace", "t", [first, second], current).row["environment"] == "production"


def test_default_environment_is_replaced_by_an_explicit_one() -> None:
    update = event("span-update", at(1), id="s", environment="default")
    create = event("span-create", at(2), id="s", traceId="t", environment="probe-env")
    partial = merge("observation", "s", [update]).row
    assert partial["environment"] == "default"
    assert merge("observation", "s", [update, create], partial).row["environment"] == "probe-env"


def test_merging_over_an_existing_row_keeps_immutable_fields_and_created_at() -> None:
    created = datetime(2026, 1, 1, tzinfo=UTC)
    # a row written from data no longer in the blob store (e.g. migrated from Langfuse v2)
    current = {
        "id": "t", "project_id": PROJECT, "timestamp": ts(-100), "environment": "legacy", "name": "old",
        "user_id": "u0", "metadata": {"keep": "1"}, "release": None, "version": None, "public": True,
        "bookmarked": True, "tags": ["z"], "input": "in", "output": None, "session_id": "s0",
        "created_at": created, "updated_at": created, "event_ts": created, "is_deleted": 0,
    }
    new = event("trace-create", at(1), id="t", timestamp=at(1), environment="prod", name="new", tags=["a"],
                metadata={"add": True})
    row = merge("trace", "t", [new], current).row
    assert row["timestamp"] == ts(-100)
    assert row["environment"] == "legacy"
    assert row["created_at"] == created
    assert row["updated_at"] == NOW
    assert row["name"] == "new"
    assert row["user_id"] == "u0"
    assert row["session_id"] == "s0"
    assert row["input"] == "in"
    assert row["public"] is True and row["bookmarked"] is True
    assert row["tags"] == ["a", "z"]
    assert row["metadata"] == {"keep": "1", "add": "true"}


def test_a_deleted_current_row_is_not_merged_but_still_versioned_after() -> None:
    old = merge("trace", "t", [event("trace-create", at(1), id="t", name="old")]).row
    deleted = {**old, "is_deleted": 1, "event_ts": NOW + timedelta(seconds=5)}
    result = merge("trace", "t", [event("trace-create", at(2), id="t")], deleted)
    assert result.row["name"] == ""
    assert result.row["created_at"] == NOW
    assert result.tombstones == []
    assert result.row["event_ts"] == NOW + timedelta(seconds=5) + MS


# -- input / output --------------------------------------------------------------------------------


def test_input_string_verbatim_and_other_json_compact() -> None:
    text = event("trace-create", at(1), id="t", input='{"not": "parsed"}', output={"ä": [1, 2.5, None, True]})
    row = merge("trace", "t", [text]).row
    assert row["input"] == '{"not": "parsed"}'
    assert row["output"] == '{"ä":[1,2.5,null,true]}'


def test_input_takes_the_last_truthy_value() -> None:
    first = event("trace-create", at(1), id="t", input="question", output=0)
    second = event("trace-create", at(2), id="t", input="", output=None)
    row = merge("trace", "t", [first, second]).row
    assert row["input"] == "question"
    assert row["output"] == "0"  # a falsy value is still stored when it is the only one
    assert merge("trace", "t", [event("trace-create", at(1), id="t", input=False)]).row["input"] == "false"
    assert merge("trace", "t", [event("trace-create", at(1), id="t", input=[])]).row["input"] == "[]"


# -- observations: clamp, tags ----------------------------------------------------------------------


def test_end_time_before_start_time_is_clamped() -> None:
    create = event("span-create", at(1), id="s", traceId="t", startTime=at(10), endTime=at(5))
    row = merge("observation", "s", [create]).row
    assert row["end_time"] == row["start_time"] == ts(10)


def test_tags_are_the_sorted_union() -> None:
    first = event("trace-create", at(1), id="t", tags=["b", "a"])
    second = event("trace-create", at(2), id="t", tags=["c", "a", "B"])
    assert merge("trace", "t", [first, second]).row["tags"] == ["B", "a", "b", "c"]


def test_prompt_reference_is_the_latest_one() -> None:
    create = event("generation-create", at(1), id="g", traceId="t", promptName="p", promptVersion=1)
    update = event("generation-update", at(2), id="g", promptName="p", promptVersion=2)
    result = merge("observation", "g", [update, create])
    assert result.prompt == ("p", 2)
    assert merge("observation", "g", [event("span-create", at(1), id="g")]).prompt is None


# -- versions and tombstones -----------------------------------------------------------------------


def test_sort_key_change_writes_a_tombstone_for_the_old_version() -> None:
    late_day = datetime(2026, 11, 29, 0, 0, 1, tzinfo=UTC)
    update = event("span-update", late_day.isoformat(), id="s", output="x")
    create = event("span-create", at(1), id="s", traceId="t", startTime=at(0))  # the day before
    partial = merge("observation", "s", [update]).row
    result = merge("observation", "s", [update, create], partial, now=NOW + timedelta(seconds=1))
    assert result.row["start_time"] == ts(0)
    [tombstone] = result.tombstones
    assert tombstone == {**partial, "is_deleted": 1, "event_ts": NOW + timedelta(seconds=1)}
    assert result.row["event_ts"] == tombstone["event_ts"] + MS
    assert result.row["is_deleted"] == 0


def test_type_change_writes_a_tombstone() -> None:
    span = event("observation-create", at(1), id="o", type="SPAN", traceId="t")
    generation = event("observation-update", at(2), id="o", type="GENERATION")
    current = merge("observation", "o", [span]).row
    result = merge("observation", "o", [span, generation], current)
    assert result.row["type"] == "GENERATION"
    assert [t["type"] for t in result.tombstones] == ["SPAN"]


def test_score_name_change_writes_a_tombstone() -> None:
    first = event("score-create", at(1), id="sc", traceId="t", name="quality", value=1)
    renamed = event("score-create", at(2), id="sc", traceId="t", name="accuracy", value=1)
    current = merge("score", "sc", [first]).row
    result = merge("score", "sc", [first, renamed], current)
    assert result.row["name"] == "accuracy"
    assert result.row["timestamp"] == ts(1)
    assert [t["name"] for t in result.tombstones] == ["quality"]


def test_no_tombstone_without_current_row_or_key_change() -> None:
    create = event("trace-create", at(1), id="t", timestamp=at(1))
    assert merge("trace", "t", [create]).tombstones == []
    current = merge("trace", "t", [create]).row
    assert merge("trace", "t", [create, event("trace-create", at(2), id="t", name="x")], current).tombstones == []


def test_event_ts_is_after_the_current_version_even_with_clock_skew() -> None:
    create = event("trace-create", at(1), id="t")
    current = {**merge("trace", "t", [create]).row, "event_ts": NOW + timedelta(seconds=10)}
    assert merge("trace", "t", [create], current).row["event_ts"] == NOW + timedelta(seconds=10) + MS


# -- unprocessable input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entity_type", "events", "fragment"),
    [
        ("trace", [event("trace-create", at(1), id="x"), event("span-create", at(2), id="x")], "does not belong"),
        ("observation", [event("trace-create", at(1), id="x")], "does not belong"),
        ("trace", [], "no stored events"),
        ("trace", [{"id": "e", "type": "trace-create", "timestamp": at(1), "body": "oops"}], "no body"),
        ("trace", [event("trace-create", "2026-11-28T14:00:00", id="x")], "time zone"),
        ("trace", [event("trace-create", "yesterday", id="x")], "ISO-8601"),
        ("trace", [event("trace-create", at(1), id="other")], "stored under"),
        ("trace", [event("trace-create", at(1), id="x", name=5)], "body.name"),
        ("trace", [event("trace-create", at(1), id="x", tags="a")], "body.tags"),
        ("observation", [event("observation-create", at(1), id="x", type="TOOL")], "observation type"),
        ("observation", [event("generation-create", at(1), id="x", usage={"input": 1.5})], "usage.input"),
        ("observation", [event("generation-create", at(1), id="x", costDetails={"input": 1e7})], "Decimal64"),
        ("score", [event("score-create", at(1), id="x", name="n", traceId="t")], "neither"),
        ("widget", [event("trace-create", at(1), id="x")], "unknown entity type"),
        ("trace", ["not an object"], "not an object"),
    ],
)
def test_unprocessable_input_raises(entity_type: str, events: list[Any], fragment: str) -> None:
    with pytest.raises(UnprocessableEntity) as caught:
        merge(entity_type, "x", events)
    assert fragment in caught.value.reason
