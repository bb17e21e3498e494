"""Coalesced current-row reads: concurrent ingestion jobs share one query per table and project.

Each ingestion job needs the current ClickHouse row of every entity it merges. On chDB a query
costs about the same for 5 ids as for 300 (≈8-15 ms, measured with scripts/bench/ingestion.py's
data), and queries run one at a time, so three queries per job made the read lane the worker's
limit. Here a caller's ids join the next round instead: a round starts as soon as the previous
one has finished and runs one `fetch_current_rows` per (table, project) for every id that joined.

A caller still reads after it took its entity locks, so it sees every row flushed before, just as
a query of its own would. A failed query fails every caller of that round with the same error
(the jobs retry); a cancelled caller is simply skipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from langfuse_aio.storage.clickhouse.base import ClickHouse, Row
from langfuse_aio.storage.clickhouse.repositories import fetch_current_rows


@dataclass(frozen=True)
class _Waiter:
    ids: tuple[str, ...]
    done: asyncio.Future[dict[str, Row]]


class CurrentRowReader:
    def __init__(self, ch: ClickHouse) -> None:
        self._ch = ch
        self._pending: dict[tuple[str, str], list[_Waiter]] = {}
        self._task: asyncio.Task[None] | None = None

    async def fetch(self, table: str, project_id: str, ids: Sequence[str]) -> dict[str, Row]:
        """The latest live row of each of `ids` in `table`, keyed by id (as `fetch_current_rows`)."""
        if not ids:
            return {}
        waiter = _Waiter(tuple(ids), asyncio.get_running_loop().create_future())
        self._pending.setdefault((table, project_id), []).append(waiter)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="clickhouse-row-reader")
        return await waiter.done

    async def _run(self) -> None:
        try:
            while self._pending:
                await asyncio.sleep(0)  # callers made ready by the same loop iteration join this round
                batch, self._pending = self._pending, {}
                await asyncio.gather(*(self._read(table, project_id, waiters)
                                       for (table, project_id), waiters in batch.items()))
        except BaseException:  # cancelled (loop shutdown): nobody may wait forever
            for waiters in self._pending.values():
                for waiter in waiters:
                    waiter.done.cancel()
            self._pending = {}
            raise

    async def _read(self, table: str, project_id: str, waiters: list[_Waiter]) -> None:
        ids = list(dict.fromkeys(i for waiter in waiters for i in waiter.ids))
        try:
            found = await fetch_current_rows(self._ch, table, project_id, ids)
        except Exception as exc:
            for waiter in waiters:
                if not waiter.done.done():
                    waiter.done.set_exception(exc)
            return
        except BaseException:
            for waiter in waiters:
                waiter.done.cancel()
            raise
        for waiter in waiters:
            if not waiter.done.done():
                waiter.done.set_result({i: found[i] for i in waiter.ids if i in found})
