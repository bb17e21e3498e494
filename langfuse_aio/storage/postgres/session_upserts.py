"""The worker's upserts of Langfuse's `trace_sessions` rows, skipping sessions it upserted lately.

Every ingestion job whose traces name a session used to cost a Postgres round trip; a session is
usually named by many traces in a row, so the ids upserted in the last `ttl_seconds` are remembered
(per process, bounded) and not sent again. The upsert itself is idempotent (ON CONFLICT DO NOTHING),
so forgetting early only costs a round trip.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from psycopg_pool import AsyncConnectionPool

_UPSERT = (
    "INSERT INTO trace_sessions (id, project_id, created_at, updated_at) "
    "SELECT s, %s, now(), now() FROM unnest(%s::text[]) AS s "
    "ON CONFLICT (id, project_id) DO NOTHING"
)


class SessionUpserts:
    def __init__(self, pg: AsyncConnectionPool[Any], *, ttl_seconds: float = 60.0, max_entries: int = 50_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._pg = pg
        self._ttl = ttl_seconds
        self._max = max_entries
        self._clock = clock
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()

    async def upsert(self, project_id: str, session_ids: Sequence[str]) -> int:
        """Make sure each session has its row; returns how many ids went to Postgres."""
        now = self._clock()
        todo = [s for s in dict.fromkeys(session_ids) if now - self._seen.get((project_id, s), -1e18) > self._ttl]
        if not todo:
            return 0
        async with self._pg.connection() as conn:
            await conn.execute(_UPSERT, (project_id, todo))
        for session_id in todo:  # only after the row surely exists
            self._seen[(project_id, session_id)] = now
            self._seen.move_to_end((project_id, session_id))
        while len(self._seen) > self._max:
            self._seen.popitem(last=False)
        return len(todo)
