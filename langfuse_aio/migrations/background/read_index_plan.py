"""What the read-index backfill copies, in which chunks, and where a resumed run starts (pure).

Each read index (ClickHouse migrations 0007 and 0009) is filled from its table by the SELECT of its materialized
view (`IndexSource.view_select`, which tests/unit compares with the view in the SQL file), one
chunk at a time. A chunk is one partition of the table (`_partition_id`, whatever the partition key
is), or, for a partition of more than `chunk_rows` rows, a contiguous hour-aligned slice of it (the
partition id must then read as Langfuse's `toYYYYMM`; the first slice has no lower bound and the
last no upper one, so the slices cover the partition whatever the server's time zone).

The cursor of an index (`Cursor`) is the last partition reached and, within it, the time below
which its rows are copied (`before`; None when the whole partition is). A resumed run skips what
the cursor covers, even when it slices a partition differently from the run that saved it.
Partition ids sort in time order (YYYYMM). Times are naive UTC, as `progress` keeps them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from langfuse_aio.migrations.background.progress import iso, parse_date
from langfuse_aio.storage.clickhouse.read_index_state import (
    OBSERVATIONS_BY_TRACE,
    SCORES_BY_TRACE,
    TRACE_USER_INDEX,
)


@dataclass(frozen=True)
class IndexSource:
    index: str
    table: str
    time_column: str  # the column of the table's `toYYYYMM` partition key
    select: str  # the view's SELECT list and FROM
    where: str | None = None  # the view's WHERE condition

    @property
    def view_select(self) -> str:
        return self.select + ("" if self.where is None else f" WHERE {self.where}")


SOURCES: Final = (
    IndexSource(
        TRACE_USER_INDEX, "traces", "timestamp",
        "SELECT id, timestamp, name, assumeNotNull(user_id) AS user_id, metadata, release, version, project_id,"
        " environment, public, bookmarked, tags, input, output, session_id, created_at, updated_at, event_ts,"
        " is_deleted FROM traces",
        "traces.user_id IS NOT NULL",
    ),
    IndexSource(
        OBSERVATIONS_BY_TRACE, "observations", "start_time",
        "SELECT id, trace_id, project_id, environment, type, parent_observation_id, start_time, end_time, name,"
        " metadata, level, status_message, version, input, output, provided_model_name, internal_model_id,"
        " model_parameters, provided_usage_details, usage_details, provided_cost_details, cost_details, total_cost,"
        " completion_start_time, prompt_id, prompt_name, prompt_version, created_at, updated_at, event_ts,"
        " is_deleted FROM observations",
    ),
    IndexSource(
        SCORES_BY_TRACE, "scores", "timestamp",
        "SELECT id, timestamp, project_id, environment, trace_id, session_id, observation_id, name, value, source,"
        " comment, metadata, author_user_id, config_id, data_type, string_value, queue_id, created_at, updated_at,"
        " event_ts, is_deleted FROM scores",
    ),
)


@dataclass(frozen=True)
class Chunk:
    partition: str
    low: datetime | None = None  # inclusive; None: from the partition's first row
    high: datetime | None = None  # exclusive; None: to its last row

    def condition(self, source: IndexSource) -> tuple[str, dict[str, Any]]:
        """The WHERE condition selecting the chunk's rows of `source.table`, and its parameters."""
        column = f"{source.table}.{source.time_column}"
        parts = ["_partition_id = {partition:String}"]
        params: dict[str, Any] = {"partition": self.partition}
        if self.low is not None:
            parts.append(f"{column} >= {{low:DateTime64(3)}}")
            params["low"] = self.low.replace(tzinfo=UTC)
        if self.high is not None:
            parts.append(f"{column} < {{high:DateTime64(3)}}")
            params["high"] = self.high.replace(tzinfo=UTC)
        return " AND ".join(parts), params


@dataclass(frozen=True)
class Cursor:
    partition: str
    before: datetime | None  # None: the whole partition is copied

    def to_state(self) -> dict[str, str | None]:
        return {"partition": self.partition, "before": None if self.before is None else iso(self.before)}

    @staticmethod
    def from_state(value: Any) -> Cursor | None:
        if not isinstance(value, Mapping) or not isinstance(value.get("partition"), str):
            return None
        before = value.get("before")
        return Cursor(value["partition"], None if before is None else parse_date(before, "state cursor"))

    def after(self, chunk: Chunk) -> Chunk | None:
        """What of `chunk` is left to copy beyond this cursor (None: nothing)."""
        if chunk.partition != self.partition:
            return None if chunk.partition < self.partition else chunk
        if self.before is None or (chunk.high is not None and chunk.high <= self.before):
            return None
        if chunk.low is None or chunk.low < self.before:
            return Chunk(chunk.partition, self.before, chunk.high)
        return chunk


def month_of(partition: str) -> datetime | None:
    """The first instant of a `toYYYYMM` partition id's month; None for another kind of id."""
    if len(partition) != 6 or not partition.isdigit() or not 1 <= int(partition[4:]) <= 12:
        return None
    return datetime(int(partition[:4]), int(partition[4:]), 1)


def _next_month(start: datetime) -> datetime:
    return datetime(start.year + start.month // 12, start.month % 12 + 1, 1)


def slices(partition: str, rows: int, chunk_rows: int) -> list[Chunk]:
    """The partition as one chunk, or as hour-aligned slices of about `chunk_rows` rows each."""
    start = month_of(partition)
    pieces = math.ceil(rows / chunk_rows) if rows > 0 else 1
    if start is None or pieces <= 1:
        return [Chunk(partition)]
    hours = int((_next_month(start) - start) / timedelta(hours=1))
    pieces = min(pieces, hours)
    bounds = [start + timedelta(hours=hours * i // pieces) for i in range(1, pieces)]
    return [Chunk(partition, low, high) for low, high in zip([None, *bounds], [*bounds, None], strict=True)]


def plan(partitions: Mapping[str, int], chunk_rows: int, cursor: Cursor | None) -> list[Chunk]:
    """Every chunk still to copy, in partition order, for partitions with their row counts."""
    chunks: list[Chunk] = []
    for partition in sorted(partitions):
        for chunk in slices(partition, partitions[partition], chunk_rows):
            left = chunk if cursor is None else cursor.after(chunk)
            if left is not None:
                chunks.append(left)
    return chunks


def cursor_after(chunk: Chunk) -> Cursor:
    """The cursor once `chunk` (and every chunk before it) is copied."""
    return Cursor(chunk.partition, chunk.high)
