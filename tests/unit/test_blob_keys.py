from datetime import UTC, datetime

import pytest

from langfuse_aio.domain.blob_keys import entity_event_key, entity_prefix, request_key, safe_segment


def test_langfuse_layout_for_plain_ids() -> None:
    key = entity_event_key("events/", "proj-1", "observation", "3f2b-uuid", "evt-9")
    assert key == "events/proj-1/observation/3f2b-uuid/evt-9.json"
    assert key.startswith(entity_prefix("events/", "proj-1", "observation", "3f2b-uuid"))


@pytest.mark.parametrize("raw", ["a/b", "..", ".", "x" * 300, "tab\there", "_h_" + "0" * 64, "ünïcode", ""])
def test_unsafe_ids_become_stable_hashes(raw: str) -> None:
    segment = safe_segment(raw)
    assert segment.startswith("_h_") and "/" not in segment and len(segment) == 67
    assert safe_segment(raw) == segment


def test_distinct_ids_never_share_a_folder() -> None:
    ids = ["a/b", "a_b", "a:b", "A/b", "a/b/"]
    assert len({safe_segment(i) for i in ids}) == len(ids)


def test_request_key_is_time_bucketed() -> None:
    at = datetime(2026, 11, 28, 9, 5, tzinfo=UTC)
    assert request_key("", "p", at, "r1") == "ingestion/p/2026/11/28/09/05/r1.json"


def test_unknown_entity_type_is_refused() -> None:
    with pytest.raises(ValueError):
        entity_prefix("", "p", "session", "x")
