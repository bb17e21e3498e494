"""Runs the `background_migrations` rows one at a time, in name order, under Langfuse's lock protocol.

The same manager runs our own jobs from `langfuse_aio_background_migrations` (`table=`), a table of
the same shape that Langfuse never reads, under the same protocol, independently of Langfuse's rows.

One manager per process, with its own random worker id. A loop (`run_until_idle`):
1. In one Serializable transaction, select the first row that is neither finished nor failed, by name.
   None → stop. Its `locked_at` newer than `stale_seconds` → stop: another worker runs it (the head
   row blocks later ones on purpose). Else take it: worker_id = ours, locked_at = now. A serialization
   failure (two workers taking at once) retries the transaction.
2. Heartbeat at once and then every `heartbeat_seconds`: locked_at = now, only while the row is still
   ours and open. The heartbeat also logs progress from the row's `state`. If the row stopped being
   ours (a worker took over a lock we let go stale), the run is aborted rather than run twice.
3. validate: a reason → failed_at, failed_reason, locked_at NULL; go on with the next row.
4. run: returns → finished_at, locked_at NULL; raises → failed_at, failed_reason (the message),
   locked_at NULL; go on. A failure never blocks the rows after it.
`stop()` (shutdown) sets the running migration's abort event, waits (bounded) for `run` to return,
and clears locked_at (our worker id only) without setting finished_at, so the next start resumes it
at once. Timestamps are the database's `now() AT TIME ZONE 'UTC'` (timestamp(3) holds naive UTC),
so workers on different hosts compare locks on one clock.

Unlike Langfuse, which looks only at process start, the worker calls `kick()` from a cron job, so a
lock left by a crashed process or a row re-armed by `langfuse-aio migrations retry` is picked up
without a restart.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
import structlog
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from langfuse_aio.migrations.background.admin import COLUMNS, LANGFUSE_TABLE, checked_table
from langfuse_aio.migrations.background.contract import BackgroundMigration
from langfuse_aio.migrations.background.state_store import PostgresStateStore
from langfuse_aio.migrations.background.status import MigrationRow, progress, state_suffix

log = structlog.get_logger(__name__)

MigrationFactory = Callable[[], Mapping[str, BackgroundMigration]]  # script name -> implementation

_NOW = "(now() AT TIME ZONE 'UTC')"
_OURS_AND_OPEN = "id = %s AND worker_id = %s AND finished_at IS NULL AND failed_at IS NULL"


@dataclass(frozen=True)
class _Statements:
    """The protocol's statements on one table (`background_migrations`, or our own of the same shape)."""

    select_head: str
    take: str
    heartbeat: str
    release: str
    finish: str
    fail: str

    @classmethod
    def on(cls, table: str) -> _Statements:
        t = checked_table(table)
        return cls(
            select_head=(
                f"SELECT {COLUMNS}, (locked_at IS NOT NULL AND locked_at > {_NOW} - make_interval(secs => %s))"
                f" AS fresh FROM {t} WHERE finished_at IS NULL AND failed_at IS NULL ORDER BY name LIMIT 1"
            ),
            take=f"UPDATE {t} SET worker_id = %s, locked_at = {_NOW} WHERE id = %s",
            heartbeat=f"UPDATE {t} SET locked_at = {_NOW} WHERE {_OURS_AND_OPEN} RETURNING state",
            release=f"UPDATE {t} SET locked_at = NULL WHERE {_OURS_AND_OPEN}",
            finish=f"UPDATE {t} SET finished_at = {_NOW}, locked_at = NULL WHERE id = %s AND worker_id = %s",
            fail=(f"UPDATE {t} SET failed_at = {_NOW}, failed_reason = %s, locked_at = NULL"
                  " WHERE id = %s AND worker_id = %s"),
        )


@dataclass
class _Active:
    row: MigrationRow
    abort: asyncio.Event


def _message(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


class BackgroundMigrationManager:
    def __init__(
        self,
        pg: AsyncConnectionPool[Any],
        migrations: MigrationFactory,
        *,
        worker_id: str | None = None,
        heartbeat_seconds: float = 15.0,
        stale_seconds: float = 60.0,
        take_attempts: int = 20,
        table: str = LANGFUSE_TABLE,
    ) -> None:
        self._pg = pg
        self.table = table
        self._sql = _Statements.on(table)
        self._migrations = migrations
        self.worker_id = worker_id or str(uuid.uuid4())
        self.heartbeat_seconds = heartbeat_seconds
        self.stale_seconds = stale_seconds
        self._take_attempts = take_attempts
        self._loop_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._active: _Active | None = None
        self._stopping = False
        self._quiet_checks = 0  # loops that found nothing to run: only the first is logged at info

    @property
    def running(self) -> bool:
        return self._loop_lock.locked()

    def kick(self) -> bool:
        """Start a loop in the background unless one runs or the manager is stopping; True if started."""
        if self._stopping or self.running or any(not t.done() for t in self._tasks):
            return False
        task = asyncio.create_task(self._run_logged(), name="background-migrations")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _run_logged(self) -> None:
        try:
            await self.run_until_idle()
        except Exception:  # a background task: nothing awaits it, so say why it ended (Langfuse logs too)
            log.exception("background_migrations_error", worker_id=self.worker_id)

    async def run_until_idle(self) -> list[str]:
        """Run migrations one after another until none is runnable; the names taken, in order.

        Returns at once (empty) when this process already runs a loop or is stopping."""
        if self._stopping or self._loop_lock.locked():
            return []
        async with self._loop_lock:
            current = asyncio.current_task()
            if current is not None:
                self._tasks.add(current)
            try:
                registry = self._migrations()
                handled: list[str] = []
                while not self._stopping:
                    row = await self._take_next()
                    if row is None:
                        break
                    handled.append(row.name)
                    await self._run_one(row, registry)
                return handled
            finally:
                if current is not None:
                    self._tasks.discard(current)

    async def stop(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Abort the running migration (it stays unfinished, its lock released) and start no more."""
        self._stopping = True
        active = self._active
        if active is not None:
            log.info("background_migration_aborting", name=active.row.name, worker_id=self.worker_id)
            active.abort.set()
        pending = {t for t in self._tasks if not t.done() and t is not asyncio.current_task()}
        if pending:
            _, late = await asyncio.wait(pending, timeout=timeout)
            for task in late:
                log.warning("background_migration_abort_timeout", seconds=timeout,
                            name=active.row.name if active else None)
                task.cancel()
            if late:
                await asyncio.gather(*late, return_exceptions=True)
        for left in (active, self._active):  # the one aborted, or one taken while stop() began
            if left is not None:
                await self._release(left.row)

    # --- one step of the loop ---------------------------------------------------------------------

    async def _take_next(self) -> MigrationRow | None:
        for attempt in range(1, self._take_attempts + 1):
            try:
                return await self._take_once()
            except psycopg.errors.SerializationFailure:
                await asyncio.sleep(random.uniform(0.01, 0.05) * attempt)  # noqa: S311
        log.warning("background_migration_take_contended", attempts=self._take_attempts, worker_id=self.worker_id)
        return None

    async def _take_once(self) -> MigrationRow | None:
        async with self._pg.connection(timeout=5) as conn, conn.transaction():
            await conn.execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(self._sql.select_head, (self.stale_seconds,))
            head = await cur.fetchone()
            say = log.info if self._quiet_checks == 0 else log.debug  # the per-minute checks stay quiet
            if head is None:
                say("background_migrations_idle", worker_id=self.worker_id)
                self._quiet_checks += 1
                return None
            fresh = head.pop("fresh")
            row = MigrationRow(**head)
            if fresh:
                say("background_migration_locked_elsewhere", name=row.name, holder=row.worker_id,
                    locked_at=row.locked_at.isoformat() if row.locked_at else None, worker_id=self.worker_id)
                self._quiet_checks += 1
                return None
            await cur.execute(self._sql.take, (self.worker_id, row.id))
        if row.worker_id is not None and row.locked_at is not None and row.worker_id != self.worker_id:
            log.warning("background_migration_stale_lock_taken", name=row.name, previous_worker=row.worker_id,
                        locked_at=row.locked_at.isoformat(), worker_id=self.worker_id)
        return row

    async def _run_one(self, row: MigrationRow, registry: Mapping[str, BackgroundMigration]) -> None:
        abort = asyncio.Event()
        self._active = _Active(row, abort)
        if self._stopping:  # stop() came while this row was being taken
            abort.set()
        try:
            await self._run_and_record(row, registry, abort)
        finally:
            self._active = None

    async def _run_and_record(
        self, row: MigrationRow, registry: Mapping[str, BackgroundMigration], abort: asyncio.Event
    ) -> None:
        heartbeat = asyncio.create_task(self._heartbeat(row, abort), name=f"heartbeat-{row.name}")
        started = time.monotonic()
        try:
            outcome, reason = await self._execute(row, registry, abort)
        finally:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)
        seconds = round(time.monotonic() - started, 3)
        if abort.is_set():
            await self._release(row)
            log.info("background_migration_aborted", name=row.name, seconds=seconds, worker_id=self.worker_id)
        elif outcome == "finished":
            await self._update(self._sql.finish, (row.id, self.worker_id))
            log.info("background_migration_finished", name=row.name, seconds=seconds, worker_id=self.worker_id)
        else:
            await self._update(self._sql.fail, (reason, row.id, self.worker_id))
            event = "background_migration_invalid" if outcome == "invalid" else "background_migration_failed"
            log.warning(event, name=row.name, reason=reason, seconds=seconds, worker_id=self.worker_id)

    async def _execute(
        self, row: MigrationRow, registry: Mapping[str, BackgroundMigration], abort: asyncio.Event
    ) -> tuple[str, str | None]:
        migration = registry.get(row.script)
        if migration is None:
            return "invalid", f"unknown script {row.script!r}"
        try:
            reason = await migration.validate(row.args)
        except Exception as exc:  # recorded as the row's failed_reason, and logged with its traceback
            log.exception("background_migration_validate_error", name=row.name)
            return "failed", _message(exc)
        if reason is not None:
            return "invalid", reason
        log.info("background_migration_started", name=row.name, script=row.script, args=dict(row.args),
                 worker_id=self.worker_id)
        try:
            await migration.run(row.args, PostgresStateStore(self._pg, row.id, self.table), abort)
        except Exception as exc:  # recorded as the row's failed_reason, and logged with its traceback
            if abort.is_set():
                log.warning("background_migration_error_while_aborting", name=row.name, error=_message(exc))
                return "aborted", None
            log.exception("background_migration_run_error", name=row.name)
            return "failed", _message(exc)
        return "finished", None

    async def _heartbeat(self, row: MigrationRow, abort: asyncio.Event) -> None:
        last: tuple[float, int] | None = None
        while True:
            try:
                async with self._pg.connection(timeout=5) as conn:
                    cur = await conn.execute(self._sql.heartbeat, (row.id, self.worker_id))
                    beat = await cur.fetchone()
            except psycopg.Error as exc:  # a Postgres blip: keep running, the next beat may get through
                log.warning("background_migration_heartbeat_failed", name=row.name, error=str(exc))
            else:
                if beat is None:
                    log.warning("background_migration_lock_lost", name=row.name, worker_id=self.worker_id)
                    abort.set()
                    return
                last = self._log_progress(row, beat[0] if isinstance(beat[0], dict) else {}, last)
            await asyncio.sleep(self.heartbeat_seconds)

    def _log_progress(
        self, row: MigrationRow, state: Mapping[str, Any], last: tuple[float, int] | None
    ) -> tuple[float, int] | None:
        p = progress(state, state_suffix(row.args, state))
        if p.rows_done is None:  # nothing saved yet (or a script that keeps no counts)
            return None
        now = time.monotonic()
        rate = p.rate
        if last is not None and now > last[0]:
            rate = (p.rows_done - last[1]) / (now - last[0])  # since the previous beat
        eta = None
        if rate and rate > 0 and p.rows_total is not None:
            eta = round(max(p.rows_total - p.rows_done, 0) / rate, 1)
        log.info("background_migration_progress", name=row.name, rows_done=p.rows_done, rows_total=p.rows_total,
                 rate=None if rate is None else round(rate, 1), eta_seconds=eta, worker_id=self.worker_id)
        return now, p.rows_done

    async def _release(self, row: MigrationRow) -> None:
        await self._update(self._sql.release, (row.id, self.worker_id))

    async def _update(self, statement: str, params: tuple[Any, ...]) -> None:
        async with self._pg.connection(timeout=5) as conn:
            await conn.execute(statement, params)
