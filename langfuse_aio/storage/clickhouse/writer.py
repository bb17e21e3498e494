"""The batching ClickHouse writer: many small writes become one insert per table per flush.

Langfuse's ClickhouseWriter buffers rows and lets the job finish before they are inserted; here
`write` returns only once its rows are in ClickHouse (or raises), so a job completes only after
its rows are durable (design §1, durability rule). Concurrent writers to a table share a batch:

- a table's buffer is flushed when it holds `max_rows` rows, or `interval_seconds` after its
  first buffered row, whichever comes first; a batch never exceeds `max_rows` (a larger write is
  cut into chunks of `max_rows`, and whole chunks are batched);
- one flusher task does all inserts: each round inserts one batch of every due table, tables
  concurrently, and the next round starts when the whole round is done (so a table whose insert
  is being retried also delays the other tables' next batch); between rounds it sleeps on an
  event with a deadline, never polls;
- a failed insert is retried with exponential back-off up to `max_attempts` attempts. Then, if
  ClickHouse still answers a ping, the batch's rows are the likely problem (an unknown column, a
  value the column refuses), so each caller's rows are inserted once on their own: only the
  callers whose rows fail get the error. Otherwise every caller of the batch gets a
  ClickHouseError. The writer keeps running either way;
- `close` flushes everything still buffered, then stops; writes after `close` raise
  ClickHouseError (retryable: the job runs again after a restart).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog

from langfuse_aio.storage.clickhouse.base import ClickHouse, ClickHouseError, Row

log = structlog.get_logger(__name__)


@dataclass
class _Chunk:
    """One caller's rows (at most `max_rows` of them) and the future that caller awaits."""

    rows: Sequence[Row]
    done: asyncio.Future[None]


@dataclass
class _Buffer:
    chunks: deque[_Chunk] = field(default_factory=deque)
    rows: int = 0
    first_at: float = 0.0  # loop time of the oldest buffered chunk


class ClickHouseWriter:
    def __init__(
        self,
        ch: ClickHouse,
        *,
        max_rows: int = 10_000,
        interval_seconds: float = 0.05,
        max_attempts: int = 5,
        backoff_seconds: float = 0.1,
        max_backoff_seconds: float = 5.0,
    ) -> None:
        if max_rows < 1 or max_attempts < 1 or interval_seconds < 0 or backoff_seconds < 0:
            raise ValueError("max_rows and max_attempts must be >= 1, intervals >= 0")
        self._ch = ch
        self._max_rows = max_rows
        self._interval = interval_seconds
        self._max_attempts = max_attempts
        self._backoff = backoff_seconds
        self._max_backoff = max_backoff_seconds
        self._buffers: dict[str, _Buffer] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    # --- public ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the flusher task (idempotent)."""
        if self._closing:
            raise ClickHouseError("the ClickHouse writer is closed")
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="clickhouse-writer")
            self._task.add_done_callback(self._on_flusher_done)

    async def write(self, table: str, rows: Sequence[Row]) -> None:
        """Buffer `rows` for `table`; return once they are inserted, raise ClickHouseError if they never are."""
        if self._closing:
            raise ClickHouseError("the ClickHouse writer is closed")
        if self._task is None:
            raise RuntimeError("ClickHouseWriter.start() was not called")
        if not rows:
            return
        loop = asyncio.get_running_loop()
        buffer = self._buffers.setdefault(table, _Buffer())
        futures: list[asyncio.Future[None]] = []
        for start in range(0, len(rows), self._max_rows):
            chunk = _Chunk(rows[start : start + self._max_rows], loop.create_future())
            if not buffer.chunks:
                buffer.first_at = loop.time()
            buffer.chunks.append(chunk)
            buffer.rows += len(chunk.rows)
            futures.append(chunk.done)
        self._wake.set()
        if len(futures) == 1:
            await futures[0]
            return
        results = await asyncio.gather(*futures, return_exceptions=True)  # retrieve every outcome
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def close(self) -> None:
        """Flush everything buffered, then stop the flusher (idempotent; a no-op if never started)."""
        self._closing = True
        self._wake.set()
        task = self._task
        if task is not None and not task.done():
            await asyncio.shield(task)

    @property
    def buffered_rows(self) -> int:
        return sum(b.rows for b in self._buffers.values())

    # --- the flusher ----------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            now = loop.time()
            due: list[str] = []
            next_deadline: float | None = None
            for table, buffer in self._buffers.items():
                if not buffer.chunks:
                    continue
                deadline = buffer.first_at + self._interval
                if self._closing or buffer.rows >= self._max_rows or deadline <= now:
                    due.append(table)
                elif next_deadline is None or deadline < next_deadline:
                    next_deadline = deadline
            if due:
                await asyncio.gather(*(self._flush(table, self._take(table)) for table in due))
                continue
            if self._closing and next_deadline is None:
                return
            timeout = None if next_deadline is None else max(0.0, next_deadline - now)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    def _take(self, table: str) -> list[_Chunk]:
        """Remove up to `max_rows` rows of whole chunks (at least one chunk) from `table`'s buffer."""
        buffer = self._buffers[table]
        taken: list[_Chunk] = []
        rows = 0
        while buffer.chunks and (not taken or rows + len(buffer.chunks[0].rows) <= self._max_rows):
            chunk = buffer.chunks.popleft()
            taken.append(chunk)
            rows += len(chunk.rows)
        buffer.rows -= rows  # what is left keeps its first_at: it has waited at least that long
        return taken

    async def _flush(self, table: str, chunks: list[_Chunk]) -> None:
        rows = [row for chunk in chunks for row in chunk.rows]
        started = time.perf_counter()
        try:
            attempts = await self._insert_with_retries(table, rows)
        except ClickHouseError as exc:
            await self._after_failed_batch(table, chunks, exc)
            return
        except Exception as exc:  # a bug, not a ClickHouse failure: no retry, the callers see it as is
            log.exception("clickhouse_flush_bug", table=table, rows=len(rows))
            _fail(chunks, exc)
            return
        log.debug(
            "clickhouse_flush", table=table, rows=len(rows), writers=len(chunks), attempts=attempts,
            seconds=round(time.perf_counter() - started, 4),
        )
        _succeed(chunks)

    async def _insert_with_retries(self, table: str, rows: list[Row]) -> int:
        attempt = 1
        while True:
            try:
                await self._ch.insert(table, rows)
                return attempt
            except ClickHouseError as exc:
                if attempt >= self._max_attempts:
                    raise
                delay = min(self._max_backoff, self._backoff * 2 ** (attempt - 1))
                log.warning(
                    "clickhouse_flush_retry", table=table, rows=len(rows), attempt=attempt,
                    retry_in=delay, error=str(exc),
                )
                await asyncio.sleep(delay)
                attempt += 1

    async def _after_failed_batch(self, table: str, chunks: list[_Chunk], exc: ClickHouseError) -> None:
        rows = sum(len(c.rows) for c in chunks)
        log.error("clickhouse_flush_failed", table=table, rows=rows, writers=len(chunks),
                  attempts=self._max_attempts, error=str(exc))
        if len(chunks) > 1 and await self._answers():
            # ClickHouse is up, so some rows are refused: give each caller its own insert.
            for chunk in chunks:
                if chunk.done.done():
                    continue
                try:
                    await self._ch.insert(table, chunk.rows)
                except ClickHouseError as own:
                    _fail([chunk], _batch_error(table, own, attempts=1))
                except Exception as bug:
                    log.exception("clickhouse_flush_bug", table=table, rows=len(chunk.rows))
                    _fail([chunk], bug)
                else:
                    _succeed([chunk])
            return
        _fail(chunks, _batch_error(table, exc, attempts=self._max_attempts))

    async def _answers(self) -> bool:
        try:
            await self._ch.ping()
        except Exception:  # any failure to answer means "down" here
            return False
        return True

    def _on_flusher_done(self, task: asyncio.Task[None]) -> None:
        """If the flusher ever dies, no caller may wait forever."""
        if task.cancelled():
            error: BaseException = ClickHouseError("the ClickHouse writer was cancelled")
        elif (exc := task.exception()) is not None:
            log.error("clickhouse_writer_crashed", error=repr(exc))
            error = ClickHouseError(f"the ClickHouse writer stopped: {exc!r}")
        else:
            error = ClickHouseError("the ClickHouse writer is closed")
        self._closing = True
        for buffer in self._buffers.values():
            _fail(list(buffer.chunks), error)
            buffer.chunks.clear()
            buffer.rows = 0


def _batch_error(table: str, exc: ClickHouseError, *, attempts: int) -> ClickHouseError:
    error = ClickHouseError(f"insert into {table} failed after {attempts} attempt(s): {exc}")
    error.__cause__ = exc
    return error


def _succeed(chunks: list[_Chunk]) -> None:
    for chunk in chunks:
        if not chunk.done.done():  # a caller that was cancelled has a cancelled future
            chunk.done.set_result(None)


def _fail(chunks: list[_Chunk], exc: BaseException) -> None:
    for chunk in chunks:
        if not chunk.done.done():
            chunk.done.set_exception(exc)
