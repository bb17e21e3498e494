"""Whether each read index holds every row of its table yet: trace_user_index (ClickHouse
migration 0007) and the per-trace copies observations_by_trace and scores_by_trace (0009).

An index is fed by a materialized view from the moment its migration created it; the rows written before
are copied by the worker's backfill job (`migrations/background/read_index_backfill.py`). Until an
index is recorded complete in `langfuse_aio_read_index_state` (migration 0008), readers take the
path that reads the table itself (`trace_queries` for the userId list, the tables for a list
page's figures and for one trace's observations and scores), so their answers are right at every
moment of the backfill. State rows of 0007's dropped key-only indexes are ignored.

A state row never goes back (`complete` is the maximum over an index's rows), so `ReadIndexes`
caches a complete index for good and, while any is not, asks again at most every
`recheck_seconds`: a fresh install, complete from 0008 on, pays one query per process.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

import structlog

from langfuse_aio.storage.clickhouse.base import ClickHouse, ClickHouseError

log = structlog.get_logger(__name__)

STATE_TABLE: Final = "langfuse_aio_read_index_state"
TRACE_USER_INDEX: Final = "trace_user_index"
OBSERVATIONS_BY_TRACE: Final = "observations_by_trace"
SCORES_BY_TRACE: Final = "scores_by_trace"
INDEXES: Final = (TRACE_USER_INDEX, OBSERVATIONS_BY_TRACE, SCORES_BY_TRACE)
ALL: Final = frozenset(INDEXES)
PER_TRACE_COPIES: Final = {"observations": OBSERVATIONS_BY_TRACE, "scores": SCORES_BY_TRACE}

_COMPLETE = f"SELECT index_name FROM {STATE_TABLE} GROUP BY index_name HAVING max(complete) = 1"


async def complete_indexes(ch: ClickHouse) -> frozenset[str]:
    """The indexes recorded complete (raises ClickHouseError, e.g. before migration 0008)."""
    return frozenset(str(r["index_name"]) for r in await ch.query(_COMPLETE)) & ALL


def per_trace_source(table: str, complete: frozenset[str]) -> str:
    """Where to read one trace's rows of `table` ("observations" or "scores"): its per-trace copy
    once that is in `complete`, else the table itself (same columns and versions)."""
    copy = PER_TRACE_COPIES[table]
    return copy if copy in complete else table


async def mark_complete(ch: ClickHouse, index: str) -> None:
    if index not in ALL:
        raise ValueError(f"unknown read index {index!r}")
    await ch.insert(STATE_TABLE, [{"index_name": index, "complete": 1, "updated_at": datetime.now(UTC)}])


class ReadIndexes:
    """The complete indexes of one ClickHouse database, cached (one per application)."""

    def __init__(self, *, recheck_seconds: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.recheck_seconds = recheck_seconds
        self._clock = clock
        self._complete: frozenset[str] = frozenset()
        self._checked_at: float | None = None

    async def complete(self, ch: ClickHouse) -> frozenset[str]:
        """The indexes readers may use now: an empty set when the state cannot be read."""
        now = self._clock()
        if self._complete == ALL or (self._checked_at is not None and now - self._checked_at < self.recheck_seconds):
            return self._complete
        try:
            found = await complete_indexes(ch)
        except ClickHouseError as exc:  # no state table yet: the tables themselves answer every read
            log.warning("read_index_state_unreadable", error=str(exc))
            found = frozenset()
        self._checked_at = now
        self._complete = self._complete | found
        return self._complete
