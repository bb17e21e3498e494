"""The consumer: turn accepted requests into merged ClickHouse rows.

For one job (one accepted request, or a follow-up for entities that were busy):
1. read the request file and fan it out into Langfuse's per-entity event files (written while
   steps 2-4 run, and complete before any lock is released or follow-up job is queued);
2. lock the entities (Redis), deferring busy ones to a follow-up job;
3. read the current ClickHouse row of each entity (the row reads of concurrent jobs are coalesced
   into one query per table), then every stored event of each entity that has one (an entity
   without a row merges just this job's events: see `_load_events`);
4. merge (pure), and write rows and tombstones through the batching writer, which returns once
   they are flushed;
5. upsert trace sessions in Postgres, record entities that can never be processed, unlock.
Store failures propagate; the job wrapper turns them into retries with back-off.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from psycopg_pool import AsyncConnectionPool

from langfuse_aio.domain import json_codec
from langfuse_aio.domain.blob_keys import entity_event_key, entity_prefix
from langfuse_aio.domain.entities import TABLES, group_stored_events
from langfuse_aio.domain.merge import ScoreConfig, UnprocessableEntity, merge_entity
from langfuse_aio.domain.score_config_rules import config_for_inflation, named_config_ids
from langfuse_aio.services.legacy_baseline import LegacyBaseline
from langfuse_aio.services.usage_costs import UsageCosts
from langfuse_aio.storage.blob.base import BlobStore
from langfuse_aio.storage.clickhouse.base import ClickHouse, Row
from langfuse_aio.storage.clickhouse.row_reader import CurrentRowReader
from langfuse_aio.storage.clickhouse.writer import ClickHouseWriter
from langfuse_aio.storage.postgres.ingestion_errors import Unprocessable, record_unprocessable
from langfuse_aio.storage.postgres.score_configs import fetch_configs
from langfuse_aio.storage.postgres.session_upserts import SessionUpserts
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
        usage: UsageCosts | None = None,
    ) -> None:
        self._blob = blob
        self._ch = clickhouse
        self._rows = CurrentRowReader(clickhouse)  # one query per table for all jobs reading at once
        self._writer = writer
        self._pg = pg
        self._sessions = SessionUpserts(pg)
        self._legacy = LegacyBaseline(pg)
        self._locks = locks
        self._defer = defer
        self._prefix = prefix
        self._clock = clock
        self._usage = usage  # model match, tokenization and cost of observations; None: merge only

    async def process(
        self, project_id: str, entities: Sequence[Entity], file_key: str | None, *, token: str
    ) -> Outcome:
        outcome = Outcome()
        fresh: dict[str, tuple[Entity, Events]] = {}
        if file_key is not None:
            fresh = await self._read_request(project_id, file_key)
        files = asyncio.create_task(self._write_entity_files(fresh)) if fresh else None
        try:
            wanted = list(dict.fromkeys([*entities, *(entity for entity, _ in fresh.values())]))
            names = {_lock_name(project_id, e): e for e in wanted}
            locked_names = await self._locks.acquire(list(names), token)
            locked = [names[n] for n in locked_names]
            locked_set = set(locked_names)
            outcome.deferred = [e for n, e in names.items() if n not in locked_set]
            try:
                failures = await self._merge_and_write(project_id, locked, fresh, outcome)
            finally:
                try:
                    if files is not None:
                        await files  # the next holder of these locks lists our files
                    if outcome.deferred:  # queued once our files exist: the follow-up replays them
                        await self._defer(project_id, outcome.deferred)
                finally:
                    await self._locks.release(locked_names, token)
        finally:
            if files is not None:  # never leave the writes running (or their error unread) past the job
                await asyncio.gather(files, return_exceptions=True)
        if failures:
            outcome.failed = len(failures)
            await record_unprocessable(self._pg, project_id, failures)
        return outcome

    # -- steps -----------------------------------------------------------------------------------

    async def _read_request(self, project_id: str, file_key: str) -> dict[str, tuple[Entity, Events]]:
        """The request's events grouped by entity, keyed by their per-entity file key."""
        try:
            document = json_codec.loads(await self._blob.get(file_key))
        except KeyError:
            log.warning("ingestion_request_file_missing", project_id=project_id, file_key=file_key)
            return {}
        groups = group_stored_events(document.get("events", []))
        fresh: dict[str, tuple[Entity, Events]] = {}
        for entity, events in groups.items():
            key = entity_event_key(self._prefix, project_id, *entity, str(events[0].get("id")))
            fresh[key] = (entity, events)
        return fresh

    async def _write_entity_files(self, fresh: dict[str, tuple[Entity, Events]]) -> None:
        # The request file is the durable copy; these can be rebuilt from it, so no fsync per file.
        files = [(key, json_codec.dumps(events)) for key, (_, events) in fresh.items()]
        await self._blob.put_many(files, durable=False)

    async def _load_events(self, project_id: str, entities: list[Entity], own: Mapping[Entity, tuple[str, Events]],
                           current: Mapping[str, Mapping[str, Row]]) -> list[tuple[Events, list[str], list[str]]]:
        """For each locked entity: the events to merge, the keys they came from, and keys that could
        not be parsed. `own` holds this job's file key and events per entity (none in a follow-up job).

        An entity that has a current row replays every stored event over it (`_replayed`: LIST + GET,
        as Langfuse). One without a row, seen after its lock was taken, merges only this job's own
        events, which equals the full replay: the lock serialises the jobs of an entity and every job
        that merges events writes a row before releasing it, so no row means no earlier job has merged
        this entity. Any other stored file belongs to a job that has not merged yet (still waiting for
        the lock, deferred to a follow-up, or about to be retried): that job finds the row we write
        and replays everything, its files and ours, over it, exactly as if we had been second. (The
        one exception is a job whose merge was unprocessable: its events stay stored and recorded in
        langfuse_aio_ingestion_errors, and are replayed again once the entity has a row.) Deleting
        an entity removes its files under the same lock. Follow-up jobs (no `own`) always replay.
        Only replays become tasks, so a job of new entities (the usual case) creates none.
        """
        new: dict[int, tuple[Events, list[str], list[str]]] = {}
        replays: list[int] = []
        for index, (kind, entity_id) in enumerate(entities):
            mine = own.get((kind, entity_id))
            if mine is not None and entity_id not in current[kind]:
                new[index] = (list(mine[1]), [mine[0]], [])
            else:
                replays.append(index)
        gate = asyncio.Semaphore(_READ_CONCURRENCY)
        replayed = dict(zip(replays, await asyncio.gather(
            *(self._replayed(project_id, entities[i], own.get(entities[i]), gate) for i in replays)), strict=True))
        return [new[i] if i in new else replayed[i] for i in range(len(entities))]

    async def _replayed(self, project_id: str, entity: Entity, own: tuple[str, Events] | None,
                        gate: asyncio.Semaphore) -> tuple[Events, list[str], list[str]]:
        """Every stored event of the entity (this job's own from memory), with their keys and the keys
        that could not be parsed."""
        async with gate:
            keys = await self._blob.list(entity_prefix(self._prefix, project_id, *entity))
            events: Events = []
            bad: list[str] = []
            for key in keys:
                if own is not None and key == own[0]:
                    continue  # ours, from memory below (its write may still be under way)
                try:
                    parsed = json_codec.loads(await self._blob.get(key))
                except KeyError:
                    continue  # deleted meanwhile
                except ValueError:
                    bad.append(key)
                    continue
                items = parsed if isinstance(parsed, list) else [parsed]
                events.extend(e for e in items if isinstance(e, Mapping))
        if own is not None:
            events.extend(own[1])
            keys = sorted({*keys, own[0]})
        return events, keys, bad

    async def _merge_and_write(
        self, project_id: str, entities: list[Entity], fresh: dict[str, tuple[Entity, Events]], outcome: Outcome
    ) -> list[Unprocessable]:
        if not entities:
            return []
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
        own = {entity: (key, events) for key, (entity, events) in fresh.items()}
        loaded = await self._load_events(project_id, entities, own, current)
        await self._add_legacy_baselines(project_id, by_type, current)
        configs = await self._score_configs(project_id, entities, loaded)
        now = self._clock()
        rows: dict[str, list[Row]] = {}
        failures: list[Unprocessable] = []
        sessions: set[str] = set()
        for entity, (events, keys, bad) in zip(entities, loaded, strict=True):
            entity_type, entity_id = entity
            if bad:
                failures.append(Unprocessable(entity, "stored event file is not valid JSON", tuple(bad)))
            if not events:
                continue
            try:
                result = merge_entity(entity_type, project_id, entity_id, events,
                                      current[entity_type].get(entity_id), now=now, score_configs=configs)
            except UnprocessableEntity as exc:
                failures.append(Unprocessable(entity, exc.reason, tuple(keys)))
                continue
            table_rows = rows.setdefault(TABLES[entity_type], [])
            table_rows.extend(result.tombstones)
            table_rows.append(result.row)
            if entity_type == "trace" and result.row.get("session_id"):
                sessions.add(str(result.row["session_id"]))
        # --- usage, model and cost of merged observations (services/usage_costs.py) ---
        if self._usage is not None and TABLES["observation"] in rows:
            await self._usage.apply(project_id, rows[TABLES["observation"]])
        # ---
        await asyncio.gather(*(self._writer.write(table, batch) for table, batch in rows.items()))
        outcome.written = sum(len(batch) for batch in rows.values())
        if sessions:
            await self._sessions.upsert(project_id, sorted(sessions))
        return failures

    async def _add_legacy_baselines(
        self, project_id: str, by_type: Mapping[str, list[str]], current: dict[str, dict[str, Row]]
    ) -> None:
        """Entities with no ClickHouse row merge over their v2 Postgres row while its copy is pending
        (services/legacy_baseline.py). After the event lists are chosen: such an entity still has no
        row here, so this job's own events are all it has to merge over the v2 row."""
        missing = {TABLES[t]: [i for i in ids if i not in current[t]] for t, ids in by_type.items()}
        found = await self._legacy.rows(project_id, missing)
        for entity_type, table in TABLES.items():
            if table in found:
                current.setdefault(entity_type, {}).update(found[table])

    async def _score_configs(
        self, project_id: str, entities: list[Entity], loaded: Sequence[tuple[Events, list[str], list[str]]]
    ) -> dict[str, ScoreConfig]:
        """The project's valid score configs named by the score events (a missing or invalid one is
        absent, so a score naming it is unprocessable)."""
        ids = named_config_ids(events for (kind, _), (events, _, _) in zip(entities, loaded, strict=True)
                               if kind == "score")
        if not ids:
            return {}
        configs = (config_for_inflation(row) for row in await fetch_configs(self._pg, project_id, sorted(ids)))
        return {config.id: config for config in configs if config is not None}
