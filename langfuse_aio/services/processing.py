"""The consumer: turn accepted requests into merged ClickHouse rows.

For one job (one accepted request, or a follow-up for entities that were busy):
1. read the request file and fan it out into Langfuse's per-entity event files;
2. lock the entities (Redis), deferring busy ones to a follow-up job;
3. read every stored event of each entity and its current ClickHouse row (the row reads of
   concurrent jobs are coalesced into one query per table);
4. merge (pure), and write rows and tombstones through the batching writer, which returns once
   they are flushed;
5. upsert trace sessions in Postgres, record entities that can never be processed, unlock.
Store failures propagate; the job wrapper turns them into retries with back-off.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from psycopg_pool import AsyncConnectionPool

from langfuse_aio.domain.blob_keys import entity_event_key, entity_prefix
from langfuse_aio.domain.entities import TABLES, group_stored_events
from langfuse_aio.domain.merge import ScoreConfig, UnprocessableEntity, merge_entity
from langfuse_aio.domain.score_config_rules import config_for_inflation
from langfuse_aio.storage.blob.base import BlobStore
from langfuse_aio.storage.clickhouse.base import ClickHouse, Row
from langfuse_aio.storage.clickhouse.row_reader import CurrentRowReader
from langfuse_aio.storage.clickhouse.writer import ClickHouseWriter
from langfuse_aio.storage.postgres.score_configs import fetch_configs
from langfuse_aio.storage.redis.locks import EntityLocks

log = structlog.get_logger(__name__)

Entity = tuple[str, str]
Events = list[Mapping[str, Any]]
_READ_CONCURRENCY = 16


@dataclass
class Outcome:
    written: int = 0
    deferred: list[Entity] = field(default_factory=list)
    failed: int = 0


@dataclass(frozen=True)
class _Failure:
    entity: Entity
    reason: str
    keys: tuple[str, ...] = ()


def _dumps(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _lock_name(project_id: str, entity: Entity) -> str:
    return f"{project_id}:{entity[0]}:{entity[1]}"


class IngestionProcessor:
    def __init__(
        self,
        *,
        blob: BlobStore,
        clickhouse: ClickHouse,
        writer: ClickHouseWriter,
        pg: AsyncConnectionPool[Any],
        locks: EntityLocks,
        defer: Callable[[str, list[Entity]], Awaitable[None]],
        prefix: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._blob = blob
        self._ch = clickhouse
        self._rows = CurrentRowReader(clickhouse)  # one query per table for all jobs reading at once
        self._writer = writer
        self._pg = pg
        self._locks = locks
        self._defer = defer
        self._prefix = prefix
        self._clock = clock

    async def process(
        self, project_id: str, entities: Sequence[Entity], file_key: str | None, *, token: str
    ) -> Outcome:
        outcome = Outcome()
        fresh: dict[str, tuple[Entity, Events]] = {}
        if file_key is not None:
            fresh = await self._fan_out(project_id, file_key)
        wanted = list(dict.fromkeys([*entities, *(entity for entity, _ in fresh.values())]))
        names = {_lock_name(project_id, e): e for e in wanted}
        locked_names = await self._locks.acquire(list(names), token)
        locked = [names[n] for n in locked_names]
        locked_set = set(locked_names)
        outcome.deferred = [e for n, e in names.items() if n not in locked_set]
        if outcome.deferred:
            await self._defer(project_id, outcome.deferred)
        try:
            failures = await self._merge_and_write(project_id, locked, fresh, outcome)
        finally:
            await self._locks.release(locked_names, token)
        if failures:
            outcome.failed = len(failures)
            await self._record_failures(project_id, failures)
        return outcome

    # -- steps -----------------------------------------------------------------------------------

    async def _fan_out(self, project_id: str, file_key: str) -> dict[str, tuple[Entity, Events]]:
        """Write the request's events into per-entity files; return them by entity-file key."""
        try:
            document = json.loads(await self._blob.get(file_key))
        except KeyError:
            log.warning("ingestion_request_file_missing", project_id=project_id, file_key=file_key)
            return {}
        groups = group_stored_events(document.get("events", []))
        fresh: dict[str, tuple[Entity, Events]] = {}
        for entity, events in groups.items():
            key = entity_event_key(self._prefix, project_id, *entity, str(events[0].get("id")))
            fresh[key] = (entity, events)
        # The request file is the durable copy; these can be rebuilt from it, so no fsync per file.
        await self._blob.put_many([(key, _dumps(events)) for key, (_, events) in fresh.items()], durable=False)
        return fresh

    async def _load(self, project_id: str, entity: Entity, fresh: dict[str, tuple[Entity, Events]],
                    gate: asyncio.Semaphore) -> tuple[Events, list[str], list[str]]:
        """All stored events of an entity, the keys read, and keys that could not be parsed."""
        async with gate:
            keys = await self._blob.list(entity_prefix(self._prefix, project_id, *entity))
            events: Events = []
            bad: list[str] = []
            for key in keys:
                if key in fresh:
                    events.extend(fresh[key][1])
                    continue
                try:
                    parsed = json.loads(await self._blob.get(key))
                except KeyError:
                    continue  # deleted meanwhile
                except ValueError:
                    bad.append(key)
                    continue
                items = parsed if isinstance(parsed, list) else [parsed]
                events.extend(e for e in items if isinstance(e, Mapping))
        return events, keys, bad

    async def _merge_and_write(
        self, project_id: str, entities: list[Entity], fresh: dict[str, tuple[Entity, Events]], outcome: Outcome
    ) -> list[_Failure]:
        if not entities:
            return []
        gate = asyncio.Semaphore(_READ_CONCURRENCY)
        loaded = await asyncio.gather(*(self._load(project_id, e, fresh, gate) for e in entities))
        by_type: dict[str, list[str]] = {}
        for entity_type, entity_id in entities:
            by_type.setdefault(entity_type, []).append(entity_id)
        current: dict[str, dict[str, Row]] = dict(
            zip(
                by_type,
                await asyncio.gather(*(self._rows.fetch(TABLES[t], project_id, ids) for t, ids in by_type.items())),
                strict=True,
            )
        )
        configs = await self._score_configs(project_id, entities, loaded)
        now = self._clock()
        rows: dict[str, list[Row]] = {}
        failures: list[_Failure] = []
        sessions: set[str] = set()
        for entity, (events, keys, bad) in zip(entities, loaded, strict=True):
            entity_type, entity_id = entity
            if bad:
                failures.append(_Failure(entity, "stored event file is not valid JSON", tuple(bad)))
            if not events:
                continue
            try:
                result = merge_entity(entity_type, project_id, entity_id, events,
                                      current[entity_type].get(entity_id), now=now, score_configs=configs)
            except UnprocessableEntity as exc:
                failures.append(_Failure(entity, exc.reason, tuple(keys)))
                continue
            table_rows = rows.setdefault(TABLES[entity_type], [])
            table_rows.extend(result.tombstones)
            table_rows.append(result.row)
            if entity_type == "trace" and result.row.get("session_id"):
                sessions.add(str(result.row["session_id"]))
        await asyncio.gather(*(self._writer.write(table, batch) for table, batch in rows.items()))
        outcome.written = sum(len(batch) for batch in rows.values())
        if sessions:
            await self._upsert_sessions(project_id, sorted(sessions))
        return failures

    async def _score_configs(
        self, project_id: str, entities: list[Entity], loaded: Sequence[tuple[Events, list[str], list[str]]]
    ) -> dict[str, ScoreConfig]:
        """The project's valid score configs named by the score events (a missing or invalid one is
        absent, so a score naming it is unprocessable)."""
        ids = {
            config_id
            for (entity_type, _), (events, _, _) in zip(entities, loaded, strict=True)
            if entity_type == "score"
            for event in events
            if isinstance(body := event.get("body"), Mapping) and isinstance(config_id := body.get("configId"), str)
        }
        if not ids:
            return {}
        configs = {}
        for row in await fetch_configs(self._pg, project_id, sorted(ids)):
            config = config_for_inflation(row)
            if config is not None:
                configs[config.id] = config
        return configs

    async def _upsert_sessions(self, project_id: str, session_ids: list[str]) -> None:
        async with self._pg.connection() as conn:
            await conn.execute(
                "INSERT INTO trace_sessions (id, project_id, created_at, updated_at) "
                "SELECT s, %s, now(), now() FROM unnest(%s::text[]) AS s "
                "ON CONFLICT (id, project_id) DO NOTHING",
                (project_id, session_ids),
            )

    async def _record_failures(self, project_id: str, failures: list[_Failure]) -> None:
        for failure in failures:
            log.error("ingestion_entity_unprocessable", project_id=project_id, entity_type=failure.entity[0],
                      entity_id=failure.entity[1], reason=failure.reason)
        async with self._pg.connection() as conn, conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO langfuse_aio_ingestion_errors (project_id, entity_type, entity_id, reason, blob_keys) "
                "VALUES (%s, %s, %s, %s, %s)",
                [(project_id, f.entity[0], f.entity[1], f.reason, list(f.keys)) for f in failures],
            )
