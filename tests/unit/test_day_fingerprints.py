from __future__ import annotations

from datetime import date

from langfuse_aio.storage.clickhouse.day_cache import day_fingerprints

D1, D2, D3 = date(2024, 11, 4), date(2024, 11, 5), date(2024, 11, 6)
EMPTY = date(1970, 1, 1)


def test_each_day_lists_the_parts_whose_range_covers_it_per_table() -> None:
    prints = day_fingerprints([
        {"table": "traces", "name": "p_1_1_0", "first": D1, "last": D2},
        {"table": "traces", "name": "p_2_2_0", "first": D2, "last": D2},
        {"table": "observations", "name": "q_1_1_0", "first": D3, "last": D3},
    ])
    assert prints == {
        D1: (("traces", ("p_1_1_0",)),),
        D2: (("traces", ("p_1_1_0", "p_2_2_0")),),
        D3: (("observations", ("q_1_1_0",)),),
    }


def test_a_new_part_changes_only_the_days_it_covers_and_an_empty_part_every_day() -> None:
    base = [{"table": "traces", "name": "p_1_1_0", "first": D1, "last": D3}]
    before = day_fingerprints(base)
    after = day_fingerprints([*base, {"table": "traces", "name": "p_2_2_0", "first": D3, "last": D3}])
    assert [d for d in before if before[d] != after[d]] == [D3]
    emptied = day_fingerprints([*base, {"table": "traces", "name": "p_3_3_1", "first": EMPTY, "last": EMPTY}])
    assert set(emptied) == {D1, D2, D3}
    assert all(before[d] != emptied[d] for d in before)
