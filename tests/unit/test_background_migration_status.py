"""`langfuse-aio migrations status`: per-row status, progress (rate, ETA) and the printed report."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from langfuse_aio.migrations.background.status import (
    MigrationRow,
    Progress,
    format_duration,
    format_rate,
    overall_status,
    progress,
    render,
    row_status,
)
from langfuse_aio.settings import SettingsError, load_settings

NOW = datetime(2025, 1, 10, 12, 0, 0)  # naive UTC, as timestamp(3) columns hold it


def test_rate_and_eta_come_from_the_saved_progress_keys() -> None:
    state = {"rowsDone": 3_000, "rowsTotal": 10_000, "startedAt": "2025-01-10T11:00:00.000Z",
             "updatedAt": "2025-01-10T11:10:00.000Z"}
    p = progress(state)
    assert p == Progress(rows_done=3_000, rows_total=10_000, rate=5.0, eta_seconds=1_400.0)


def test_progress_without_the_keys_is_unknown_not_zero() -> None:
    assert progress({"maxDate": "2024-11-01T00:00:00.000Z"}) == Progress(None, None, None, None)
    no_time = progress({"rowsDone": 10, "rowsTotal": 20, "startedAt": "2025-01-10T11:00:00Z",
                        "updatedAt": "2025-01-10T11:00:00Z"})
    assert (no_time.rate, no_time.eta_seconds) == (None, None)
    assert progress({"rowsDone": "12", "startedAt": 5}).rows_done is None


def test_progress_under_a_state_suffix() -> None:
    state = {"rowsDone_b": 50, "rowsTotal_b": 100, "startedAt_b": "2025-01-10T11:00:00Z",
             "updatedAt_b": "2025-01-10T11:00:10Z"}
    assert progress(state, "_b") == Progress(50, 100, 5.0, 10.0)
    row = MigrationRow(id="i", name="n", script="s", args={"stateSuffix": "_b"}, worker_id="w",
                       locked_at=NOW, state=state)
    assert "rows: 50 of 100 (50.0%)  rate: 5.0 rows/s  eta: 10s" in render([row], NOW)


def test_eta_is_zero_when_done_exceeds_the_estimate() -> None:
    state = {"rowsDone": 120, "rowsTotal": 100, "startedAt": "2025-01-10T11:00:00Z",
             "updatedAt": "2025-01-10T11:00:10Z"}
    assert progress(state).eta_seconds == 0.0


@pytest.mark.parametrize(("seconds", "text"), [
    (None, "-"), (0.4, "0s"), (59, "59s"), (61, "1m 01s"), (3_600, "1h 00m"), (3_661, "1h 01m"),
    (47 * 3_600, "47h 00m"), (3 * 86_400 + 7_200, "3d 02h"),
])
def test_durations(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(("rate", "text"), [(None, "-"), (2.345, "2.3 rows/s"), (12_345.6, "12,346 rows/s")])
def test_rates(rate: float | None, text: str) -> None:
    assert format_rate(rate) == text


def test_row_status_follows_langfuse_with_a_fresh_lock_for_active() -> None:
    base = MigrationRow(id="i", name="n", script="s")
    assert row_status(base, NOW) == "queued"
    assert row_status(MigrationRow(id="i", name="n", script="s", failed_at=NOW, finished_at=NOW), NOW) == "failed"
    assert row_status(MigrationRow(id="i", name="n", script="s", finished_at=NOW), NOW) == "finished"
    fresh = MigrationRow(id="i", name="n", script="s", worker_id="w", locked_at=NOW - timedelta(seconds=59))
    stale = MigrationRow(id="i", name="n", script="s", worker_id="w", locked_at=NOW - timedelta(seconds=61))
    released = MigrationRow(id="i", name="n", script="s", worker_id="w", locked_at=None)
    assert [row_status(r, NOW) for r in (fresh, stale, released)] == ["active", "queued", "queued"]


def test_overall_status_is_langfuses() -> None:
    done = MigrationRow(id="1", name="a", script="s", finished_at=NOW)
    queued = MigrationRow(id="2", name="b", script="s")
    failed = MigrationRow(id="3", name="c", script="s", failed_at=NOW, failed_reason="x")
    assert overall_status([done, queued, failed]) == "FAILED"
    assert overall_status([done, queued]) == "ACTIVE"
    assert overall_status([done]) == "FINISHED"
    assert overall_status([]) == "FINISHED"


def test_render_lists_every_row_in_order_with_its_figures() -> None:
    rows = [
        MigrationRow(id="1", name="a_cost", script="addGenerationsCostBackfill", finished_at=NOW,
                     state={"rowsDone": 10, "rowsTotal": 30}),  # an estimate that was off
        MigrationRow(id="2", name="b_traces", script="migrateTraces", args={"batchSize": 500}, worker_id="w-1",
                     locked_at=NOW - timedelta(seconds=5),
                     state={"rowsDone": 1_500, "rowsTotal": 4_500, "startedAt": "2025-01-10T11:50:00Z",
                            "updatedAt": "2025-01-10T11:55:00Z"}),
        MigrationRow(id="3", name="c_scores", script="migrateScores", failed_at=NOW,
                     failed_reason="Code: 241. Memory limit exceeded"),
    ]
    text = render(rows, NOW)
    lines = text.splitlines()
    assert lines[0] == "background migrations: FAILED"
    assert "a_cost  finished" in lines
    assert "  rows: 10  rate: -  eta: -" in lines
    assert "b_traces  active (worker w-1)" in lines
    assert '  script: migrateTraces  args: {"batchSize": 500}' in lines
    assert "  rows: 1,500 of 4,500 (33.3%)  rate: 5.0 rows/s  eta: 10m 00s" in lines
    assert "c_scores  failed" in lines
    assert "  failed reason: Code: 241. Memory limit exceeded" in lines
    assert text.index("a_cost") < text.index("b_traces") < text.index("c_scores")
    assert lines[-1] == "re-run a failed one with: langfuse-aio migrations retry NAME"


def test_the_gate_setting() -> None:
    assert load_settings({}).enable_background_migrations is True
    assert load_settings({"LANGFUSE_ENABLE_BACKGROUND_MIGRATIONS": "false"}).enable_background_migrations is False
    with pytest.raises(SettingsError, match="LANGFUSE_ENABLE_BACKGROUND_MIGRATIONS"):
        load_settings({"LANGFUSE_ENABLE_BACKGROUND_MIGRATIONS": "sometimes"})
