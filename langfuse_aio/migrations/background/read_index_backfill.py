"""The backfill of ClickHouse's read indexes (migrations 0007 and 0009, state in 0008) with the rows
written before their materialized views existed: a background job, so that start-up never copies a table.

The worker's manager runs it from our own table `langfuse_aio_background_migrations` (row `NAME`,
script `SCRIPT`), under Langfuse's lock protocol (one worker at a time across replicas; abort on
shutdown, resumed at the next start). For each index not yet recorded complete in ClickHouse
(`read_index_state`), in turn: list the table's partitions (`system.parts`), copy them chunk by chunk
(`read_index_plan`) with the view's own SELECT (`INSERT INTO index SELECT … WHERE <chunk>`, one
bounded statement each), save the index's cursor in the row's `state` after each chunk, and record
the index complete once its last chunk is in; from then on readers use it. The view has existed
since before the run began, so every row a chunk misses (written after its partition was listed,
or to an older partition meanwhile) reaches the index through the view: a finished run leaves no
row out.

Idempotent: a chunk copied again (after a kill in the middle of it, or a `retry`, which clears the
state) writes the same versions again, and a row written both by the view and by a chunk is such a
twin too: same sorting key, same `event_ts` and `is_deleted`, so ReplacingMergeTree keeps one
(`FINAL`), and readers that pick the latest version per id pick either. A failing chunk is tried
`chunk_attempts` times before the run fails (the manager records why; `migrations retry` re-arms it).

Args: `chunkRows` (rows per chunk, default `DEFAULT_CHUNK_ROWS`). State: `rowsDone` (rows of the
tables handled), `rowsTotal` (rows of their parts when first started), `startedAt`, `updatedAt`, and
under each index's name its cursor (`{"partition": …, "before": …}`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Final

import structlog

from langfuse_aio.migrations.background.contract import StateStore
from langfuse_aio.migrations.background.progress import int_arg, iso, now_utc
from langfuse_aio.migrations.background.read_index_plan import (
    SOURCES,
    Chunk,
    Cursor,
    IndexSource,
    cursor_after,
    plan,
)
from langfuse_aio.storage.clickhouse.base import ClickHouse, ClickHouseError
from langfuse_aio.storage.clickhouse.read_index_state import STATE_TABLE, complete_indexes, mark_complete

log = structlog.get_logger(__name__)

NAME: Final = "20261205_read_index_backfill"
SCRIPT: Final = "backfillReadIndexes"
DEFAULT_CHUNK_ROWS: Final = 1_000_000  # a few seconds of INSERT … SELECT, far below HTTP timeouts
_TABLES: Final = "SELECT name FROM system.tables WHERE database = {database:String} AND name IN {names:Array(String)}"
_PARTITIONS: Final = (
    "SELECT partition_id, sum(rows) AS n FROM system.parts WHERE database = {database:String}"
    " AND table = {table:String} AND active GROUP BY partition_id"
)


class ReadIndexBackfill:
    """The migration object the manager runs (contract.BackgroundMigration)."""

    def __init__(self, clickhouse: ClickHouse, *, check_retries: int = 5, check_wait_seconds: float = 10.0,
                 chunk_attempts: int = 3, retry_wait_seconds: float = 5.0) -> None:
        self._ch = clickhouse
        self._check_retries = check_retries
        self._check_wait = check_wait_seconds
        self._chunk_attempts = chunk_attempts
        self._retry_wait = retry_wait_seconds

    async def validate(self, args: Mapping[str, Any]) -> str | None:
        try:
            int_arg(args, "chunkRows", DEFAULT_CHUNK_ROWS)
        except ValueError as exc:
            return str(exc)
        for attempt in range(self._check_retries + 1):  # ClickHouse may be migrated by a process starting later
            try:
                await complete_indexes(self._ch)
                if await self._indexes_exist():
                    return None
                log.info("read_index_backfill_waiting_for_clickhouse", attempt=attempt + 1, error="index missing")
            except ClickHouseError as exc:
                log.info("read_index_backfill_waiting_for_clickhouse", attempt=attempt + 1, error=str(exc))
            if attempt < self._check_retries:
                await asyncio.sleep(self._check_wait)
        return f"ClickHouse has no {STATE_TABLE} table or no read index: its migrations 0007 to 0009 are not applied"

    async def run(self, args: Mapping[str, Any], state: StateStore, abort: asyncio.Event) -> None:
        chunk_rows = int_arg(args, "chunkRows", DEFAULT_CHUNK_ROWS) or DEFAULT_CHUNK_ROWS
        saved = dict(await state.load())
        done = saved.get("rowsDone")
        rows_done = done if isinstance(done, int) and not isinstance(done, bool) else 0
        complete = await complete_indexes(self._ch)
        todo = [source for source in SOURCES if source.index not in complete]
        if not todo:
            log.info("read_index_backfill_nothing_to_do", complete=sorted(complete))
            return
        partitions = {source.index: await self._partitions(source.table) for source in todo}
        updates: dict[str, Any] = {"updatedAt": iso(now_utc()), "rowsDone": rows_done}
        if "startedAt" not in saved:
            updates["startedAt"] = iso(now_utc())
        if "rowsTotal" not in saved:
            updates["rowsTotal"] = rows_done + sum(sum(p.values()) for p in partitions.values())
        await state.save(updates)
        for source in todo:
            chunks = plan(partitions[source.index], chunk_rows, Cursor.from_state(saved.get(source.index)))
            log.info("read_index_backfill_index_started", index=source.index, table=source.table,
                     chunks=len(chunks), partitions=len(partitions[source.index]), rows_done=rows_done)
            for chunk in chunks:
                if abort.is_set():
                    log.info("read_index_backfill_aborted", index=source.index, rows_done=rows_done)
                    return
                rows = await self._copy(source, chunk)
                rows_done += rows
                await state.save({source.index: cursor_after(chunk).to_state(), "rowsDone": rows_done,
                                  "updatedAt": iso(now_utc())})
                log.info("read_index_backfill_chunk", index=source.index, partition=chunk.partition,
                         low=None if chunk.low is None else iso(chunk.low),
                         high=None if chunk.high is None else iso(chunk.high), rows=rows, rows_done=rows_done)
            await mark_complete(self._ch, source.index)
            log.info("read_index_backfill_index_complete", index=source.index, rows_done=rows_done)

    async def _indexes_exist(self) -> bool:
        wanted = [source.index for source in SOURCES]
        rows = await self._ch.query(_TABLES, {"database": self._ch.database, "names": wanted})
        return {str(r["name"]) for r in rows} == set(wanted)

    async def _partitions(self, table: str) -> dict[str, int]:
        rows = await self._ch.query(_PARTITIONS, {"database": self._ch.database, "table": table})
        return {str(r["partition_id"]): int(r["n"]) for r in rows}

    async def _copy(self, source: IndexSource, chunk: Chunk) -> int:
        """Copy one chunk (tried again on a ClickHouse error); the number of the table's rows in it."""
        condition, params = chunk.condition(source)
        where = condition if source.where is None else f"{source.where} AND {condition}"
        attempt = 1
        while True:
            try:
                found = await self._ch.query(f"SELECT count() AS n FROM {source.table} WHERE {condition}", params)
                rows = int(found[0]["n"]) if found else 0
                if rows:
                    await self._ch.command(f"INSERT INTO {source.index} {source.select} WHERE {where}", params)
                return rows
            except ClickHouseError as exc:
                if attempt >= self._chunk_attempts:
                    raise
                log.warning("read_index_backfill_chunk_retry", index=source.index, partition=chunk.partition,
                            attempt=attempt, error=str(exc))
                await asyncio.sleep(self._retry_wait * attempt)
                attempt += 1
