"""`addGenerationsCostBackfill` (v2-migration spec §2.4): v2 observations get their calculated costs.

Each batch is one SQL statement: a CTE picks the next `batchSize` observations (newest first) that
have an internal model or a user-provided cost, a lateral lookup finds each one's model exactly as
§2.4.3 says (same project or global, `model_name = internal_model`, `start_date < start_time` or
NULL, equal unit; project row first, then latest start date; legacy price columns), and an UPDATE
writes `calculated_*_cost` and `internal_model_id`. The statement returns the batch size and its last
(oldest) row.

Where we do better than upstream:
- The cursor is the composite (start_time, id) with a strict `<`, so rows sharing one start_time are
  neither processed twice at batch boundaries nor looped over when there are more of them than a
  batch (upstream pages by start_time alone with `<=`).
- Progress is saved in `state` after every batch (`maxDate` = the cursor's start_time, `cursorId`,
  rowsDone, rowsTotal, startedAt, updatedAt), so a restart resumes instead of starting over.
- The statement timeout is raised with `SET LOCAL` inside each batch's transaction, so the pooled
  connection never keeps it (upstream SETs it on the session and restores it afterwards).
- No temporary `tmp_has_calculated_cost` column is added: upstream sets it but never reads it, and
  the saved cursor now does the job it was meant for; adding and dropping a column takes ACCESS
  EXCLUSIVE locks on the busiest v2 table. A leftover one from an upstream run is dropped at the end,
  as upstream would have done after its own successful run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

import structlog
from psycopg_pool import AsyncConnectionPool

from langfuse_aio.migrations.background.contract import StateStore
from langfuse_aio.migrations.background.progress import Progress, int_arg, start_cursor

log = structlog.get_logger(__name__)

SCRIPT: Final = "addGenerationsCostBackfill"
DEFAULT_BATCH_SIZE: Final = 5000
STATEMENT_TIMEOUT: Final = "19min"
TEMP_COLUMN: Final = "tmp_has_calculated_cost"

_SELECTABLE: Final = (
    "(o.internal_model IS NOT NULL OR o.input_cost IS NOT NULL OR o.output_cost IS NOT NULL"
    " OR o.total_cost IS NOT NULL)"
)
# cursor: (start_time, id) strictly below; a NULL id means "start_time <= maxDate" (first batch)
# (`start_time <= ts` first, so the start_time index bounds the scan)
_AFTER_CURSOR: Final = (
    "o.start_time <= %(ts)s"
    " AND (o.start_time < %(ts)s OR %(id)s::text IS NULL OR o.id < %(id)s::text)"
)
_BATCH: Final = f"""
WITH batch AS MATERIALIZED (
    SELECT o.id, o.project_id, o.start_time, o.internal_model, o.unit, o.prompt_tokens, o.completion_tokens,
           o.total_tokens, o.input_cost, o.output_cost, o.total_cost
    FROM observations o
    WHERE {_AFTER_CURSOR} AND {_SELECTABLE}
    ORDER BY o.start_time DESC, o.id DESC
    LIMIT %(limit)s
),
priced AS (
    SELECT b.*, m.id AS model_id, m.input_price, m.output_price, m.total_price
    FROM batch b
    LEFT JOIN LATERAL (
        SELECT mm.id, mm.input_price, mm.output_price, mm.total_price
        FROM models mm
        WHERE (mm.project_id = b.project_id OR mm.project_id IS NULL)
          AND mm.model_name = b.internal_model
          AND (mm.start_date < b.start_time OR mm.start_date IS NULL)
          AND b.unit = mm.unit
        ORDER BY mm.project_id ASC NULLS LAST, mm.start_date DESC NULLS LAST
        LIMIT 1
    ) m ON true
),
updated AS (
    UPDATE observations o SET
        calculated_input_cost = CASE WHEN p.input_cost IS NULL AND p.output_cost IS NULL AND p.total_cost IS NULL
            THEN p.prompt_tokens * p.input_price ELSE p.input_cost END,
        calculated_output_cost = CASE WHEN p.input_cost IS NULL AND p.output_cost IS NULL AND p.total_cost IS NULL
            THEN p.completion_tokens * p.output_price ELSE p.output_cost END,
        calculated_total_cost = CASE WHEN p.input_cost IS NULL AND p.output_cost IS NULL AND p.total_cost IS NULL
            THEN CASE WHEN p.total_price IS NOT NULL THEN p.total_price * p.total_tokens
                      ELSE p.prompt_tokens * p.input_price + p.completion_tokens * p.output_price END
            ELSE p.total_cost END,
        internal_model_id = p.model_id
    FROM priced p
    WHERE o.id = p.id
    RETURNING o.id
)
SELECT (SELECT count(*) FROM updated) AS n, last.start_time, last.id
FROM (SELECT 1) one
LEFT JOIN (SELECT start_time, id FROM batch ORDER BY start_time ASC, id ASC LIMIT 1) last ON true
"""
_ESTIMATE: Final = f"EXPLAIN (FORMAT JSON) SELECT 1 FROM observations o WHERE {_AFTER_CURSOR} AND {_SELECTABLE}"
_HAS_TEMP_COLUMN: Final = (
    "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()"
    " AND table_name = 'observations' AND column_name = %s"
)


class CostBackfill:
    """The migration object the manager runs (contract.BackgroundMigration)."""

    def __init__(self, pg: AsyncConnectionPool[Any]) -> None:
        self._pg = pg

    async def validate(self, args: Mapping[str, Any]) -> str | None:
        try:
            int_arg(args, "batchSize", DEFAULT_BATCH_SIZE)
            int_arg(args, "maxRowsToProcess", None)
        except ValueError as exc:
            return str(exc)
        return None

    async def run(self, args: Mapping[str, Any], state: StateStore, abort: asyncio.Event) -> None:
        batch_size = int_arg(args, "batchSize", DEFAULT_BATCH_SIZE) or DEFAULT_BATCH_SIZE
        max_rows = int_arg(args, "maxRowsToProcess", None)
        progress = Progress(state, suffix="")
        cursor_ts, cursor_id = await start_cursor(progress, args)
        await progress.begin(cursor_ts, cursor_id, lambda: self._estimate(cursor_ts, cursor_id))
        done_here = 0
        while not abort.is_set():
            n, last_ts, last_id = await self._batch(cursor_ts, cursor_id, batch_size)
            if n == 0 or last_ts is None:
                break
            cursor_ts, cursor_id = last_ts, str(last_id)
            done_here += n
            await progress.advance(cursor_ts, cursor_id, n)
            log.info("cost_backfill_batch", rows=n, cursor=cursor_ts.isoformat(), rows_done=progress.rows_done)
            if n < batch_size or (max_rows is not None and done_here >= max_rows):
                break
        if abort.is_set():
            log.info("cost_backfill_aborted", rows_done=progress.rows_done)
            return
        await self._drop_temp_column()
        log.info("cost_backfill_done", rows_done=progress.rows_done)

    async def _batch(self, ts: datetime, cursor_id: str | None, limit: int) -> tuple[int, datetime | None, Any]:
        async with self._pg.connection() as conn, conn.transaction():
            await conn.execute(f"SET LOCAL statement_timeout = '{STATEMENT_TIMEOUT}'")
            cur = await conn.execute(_BATCH, {"ts": ts, "id": cursor_id, "limit": limit})
            row = await cur.fetchone()
        if row is None:
            return 0, None, None
        return int(row[0]), row[1], row[2]

    async def _estimate(self, ts: datetime, cursor_id: str | None) -> int:
        async with self._pg.connection() as conn:
            cur = await conn.execute(_ESTIMATE, {"ts": ts, "id": cursor_id})
            row = await cur.fetchone()
        return plan_rows(row[0] if row else None)

    async def _drop_temp_column(self) -> None:
        async with self._pg.connection() as conn:
            cur = await conn.execute(_HAS_TEMP_COLUMN, (TEMP_COLUMN,))
            if await cur.fetchone() is not None:
                await conn.execute(f"ALTER TABLE observations DROP COLUMN IF EXISTS {TEMP_COLUMN}")
                log.info("cost_backfill_temp_column_dropped", column=TEMP_COLUMN)


def plan_rows(explained: Any) -> int:
    """The planner's row estimate from `EXPLAIN (FORMAT JSON)` output (0 when unreadable)."""
    try:
        return max(0, int(explained[0]["Plan"]["Plan Rows"]))
    except (TypeError, KeyError, IndexError, ValueError):
        return 0
