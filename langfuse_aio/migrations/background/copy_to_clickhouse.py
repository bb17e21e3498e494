"""The three v2 → ClickHouse copies (v2-migration spec §2.5): traces, observations, scores.

Rows go newest first, in (created_at DESC, id DESC) order. The composite cursor fixes upstream
#7117: upstream pages by created_at alone (`created_at <= maxDate`), so a created_at plateau larger
than one batch (every row that existed when v2 added the column shares one value) is read again and
again forever. Here the next row is always strictly below (created_at, id), so each row is copied
exactly once and a plateau costs nothing extra.

Reading: one server-side cursor (a named `DECLARE … CURSOR`) streams the ordered rows, fetched
`batchSize` at a time; Postgres walks its created_at index backwards and sorts only ties by id
(an incremental sort: a plateau is sorted once per cursor, spilling to temp files when it is larger
than work_mem; an index on (created_at, id) would avoid even that, but we add nothing to v2 tables).
The cursor is re-declared from the saved position every `ROWS_PER_CURSOR` rows so no transaction
stays open for the whole copy. Postgres converts the rows itself (`copy_sql`: one JSON line per
ClickHouse row, the same rows `domain.v2_rows` makes), Python only joins the lines, and each batch
is one `INSERT … FORMAT JSONCompactEachRow` that ClickHouse parses, while the next batches are
being read (up to `_QUEUED` ahead); the cursor is saved in `state` only after its batch is in
ClickHouse, so a crash or an abort resumes with the first batch not yet written (rows written twice
collapse in ReplacingMergeTree: same sorting key, same event_ts).

Start (as upstream): the saved cursor, else `args.maxDate`, else now — written at once, so rows
created in Postgres after the first start are out of scope by design. Stops when the rows run out,
on abort, or after `maxRowsToProcess` rows (counted in whole batches; a success, as upstream).

Validation: upstream requires CLICKHOUSE_URL/USER/PASSWORD; we also run on embedded chDB, so the copy
is valid when our ClickHouse has the target table, checked like upstream (a few retries with a wait,
because the ClickHouse schema may be migrated by another process that starts later).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

import structlog
from psycopg.types.string import ByteaBinaryLoader
from psycopg_pool import AsyncConnectionPool

from langfuse_aio.migrations.background.contract import StateStore
from langfuse_aio.migrations.background.copy_sql import COLUMNS, FORMAT, json_lines, last_cursor, lines_query
from langfuse_aio.migrations.background.cost_backfill import plan_rows
from langfuse_aio.migrations.background.progress import Progress, int_arg, parse_date, start_cursor
from langfuse_aio.storage.clickhouse.base import ClickHouse, ClickHouseError
from langfuse_aio.storage.postgres.legacy_rows import ALIASES, Table, has_prompts, select_from

log = structlog.get_logger(__name__)

DEFAULT_BATCH_SIZE: Final = 5000
ROWS_PER_CURSOR: Final = 2_000_000  # about a minute of reading per transaction
_QUEUED: Final = 3  # batches read ahead of the insert: Postgres and ClickHouse work at the same time
SCRIPTS: Final[dict[Table, str]] = {
    "traces": "migrateTracesFromPostgresToClickhouse",
    "observations": "migrateObservationsFromPostgresToClickhouse",
    "scores": "migrateScoresFromPostgresToClickhouse",
}
_TABLE_EXISTS: Final = (
    "SELECT count() AS n FROM system.tables WHERE database = {database:String} AND name = {table:String}"
)


def _after_cursor(alias: str) -> str:
    # `created_at <= ts` first so the created_at index bounds the scan; a NULL id takes all of ts
    return (f"{alias}.created_at <= %(ts)s AND ({alias}.created_at < %(ts)s OR %(id)s::text IS NULL"
            f" OR {alias}.id < %(id)s::text)")


def batch_query(table: Table, *, prompts: bool) -> str:
    alias = ALIASES[table]
    return (f"{select_from(table, prompts=prompts)} WHERE {_after_cursor(alias)}"
            f" ORDER BY {alias}.created_at DESC, {alias}.id DESC")


Batch = tuple[bytes, datetime, str, int]  # JSONCompactEachRow lines, last (created_at, id), row count


class CopyToClickHouse:
    """One table's copy; the migration object the manager runs (contract.BackgroundMigration)."""

    def __init__(self, pg: AsyncConnectionPool[Any], clickhouse: ClickHouse, table: Table, *,
                 check_retries: int = 5, check_wait_seconds: float = 10.0) -> None:
        self._pg = pg
        self._clickhouse = clickhouse
        self._table: Table = table
        self._check_retries = check_retries
        self._check_wait = check_wait_seconds

    async def validate(self, args: Mapping[str, Any]) -> str | None:
        try:
            int_arg(args, "batchSize", DEFAULT_BATCH_SIZE)
            int_arg(args, "maxRowsToProcess", None)
            if args.get("maxDate") is not None:
                parse_date(args["maxDate"], "args.maxDate")
            if not isinstance(args.get("stateSuffix", ""), str):
                return "args.stateSuffix must be a string"
        except ValueError as exc:
            return str(exc)
        for attempt in range(self._check_retries + 1):
            if await self._table_exists():
                return None
            if attempt < self._check_retries:
                log.info("copy_waiting_for_clickhouse_table", table=self._table, attempt=attempt + 1)
                await asyncio.sleep(self._check_wait)
        return f"ClickHouse {self._table} table does not exist"

    async def _table_exists(self) -> bool:
        try:
            rows = await self._clickhouse.query(
                _TABLE_EXISTS, {"database": self._clickhouse.database, "table": self._table})
        except ClickHouseError as exc:
            log.warning("copy_clickhouse_check_failed", table=self._table, error=str(exc))
            return False
        return bool(rows) and int(rows[0]["n"]) > 0

    async def run(self, args: Mapping[str, Any], state: StateStore, abort: asyncio.Event) -> None:
        batch_size = int_arg(args, "batchSize", DEFAULT_BATCH_SIZE) or DEFAULT_BATCH_SIZE
        max_rows = int_arg(args, "maxRowsToProcess", None)
        suffix = str(args.get("stateSuffix") or "") if self._table == "observations" else ""
        progress = Progress(state, suffix)
        cursor_ts, cursor_id = await start_cursor(progress, args)
        await progress.begin(cursor_ts, cursor_id, lambda: self._estimate(cursor_ts, cursor_id))
        log.info("copy_started", table=self._table, cursor=cursor_ts.isoformat(), cursor_id=cursor_id,
                 rows_done=progress.rows_done)
        queue: asyncio.Queue[Batch | None] = asyncio.Queue(maxsize=_QUEUED)
        reader = asyncio.create_task(self._read(cursor_ts, cursor_id, batch_size, max_rows, abort=abort, queue=queue))
        try:
            while (batch := await queue.get()) is not None:
                data, last_ts, last_id, count = batch
                await self._clickhouse.insert_formatted(self._table, FORMAT, data, COLUMNS[self._table])
                await progress.advance(last_ts, last_id, count)
                log.info("copy_batch", table=self._table, rows=count, rows_done=progress.rows_done,
                         cursor=last_ts.isoformat())
                if abort.is_set():
                    break
            else:
                await reader  # the reader has finished: re-raise its error, if any
        finally:
            if not reader.done():
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
        log.info("copy_aborted" if abort.is_set() else "copy_done", table=self._table, rows_done=progress.rows_done)

    async def _read(self, ts: datetime, cursor_id: str | None, batch_size: int, max_rows: int | None,
                    *, abort: asyncio.Event, queue: asyncio.Queue[Batch | None]) -> None:
        """Put converted batches on `queue` in cursor order, then None (also when reading fails)."""
        try:
            await self._read_batches(ts, cursor_id, batch_size, max_rows, abort=abort, queue=queue)
        except asyncio.CancelledError:
            raise  # the writer stopped: nobody waits for the end marker
        except BaseException:
            await queue.put(None)
            raise
        await queue.put(None)

    async def _read_batches(self, ts: datetime, cursor_id: str | None, batch_size: int, max_rows: int | None,
                            *, abort: asyncio.Event, queue: asyncio.Queue[Batch | None]) -> None:
        read = 0
        async with self._pg.connection() as conn:
            prompts = self._table == "observations" and await has_prompts(conn)
            query = lines_query(self._table, _after_cursor(ALIASES[self._table]), prompts=prompts)
            while not abort.is_set():
                # one server-side cursor for up to ROWS_PER_CURSOR rows, then a fresh one from the cursor
                async with conn.transaction(), conn.cursor("lfaio_v2_copy", binary=True) as cur:
                    cur.adapters.register_loader("text", ByteaBinaryLoader)  # the lines as bytes, as sent
                    await cur.execute(query.encode(), {"ts": ts, "id": cursor_id})
                    in_cursor = 0
                    while in_cursor < ROWS_PER_CURSOR and not abort.is_set():
                        rows = await cur.fetchmany(batch_size)
                        if rows:
                            ts, cursor_id = last_cursor(self._table, rows[-1][0])
                            await queue.put((json_lines(rows), ts, cursor_id, len(rows)))
                            read += len(rows)
                            in_cursor += len(rows)
                        if len(rows) < batch_size or (max_rows is not None and read >= max_rows):
                            return

    async def _estimate(self, ts: datetime, cursor_id: str | None) -> int:
        alias = ALIASES[self._table]
        sql = f"EXPLAIN (FORMAT JSON) SELECT 1 FROM {self._table} {alias} WHERE {_after_cursor(alias)}"
        async with self._pg.connection() as conn:
            cur = await conn.execute(sql.encode(), {"ts": ts, "id": cursor_id})
            row = await cur.fetchone()
        return plan_rows(row[0] if row else None)

