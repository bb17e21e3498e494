"""Deleting traces with their observations and scores, for good (the `delete_traces` job's work).

For each chunk of trace ids:
1. find the observations and scores whose latest version belongs to those traces (ClickHouse);
2. in batches of at most `ENTITIES_PER_BATCH` entities: take the worker's entity locks for all of
   them (all or none, so two deletions cannot deadlock; no merge of them runs meanwhile), delete
   their per-entity event files `{prefix}{projectId}/{type}/{id}/…` (so no replay or later merge
   can see the old events), then remove every version of their rows with a ClickHouse lightweight
   DELETE, and unlock;
3. look again for observations or scores that a merge running meanwhile attached to the traces,
   and delete those too (a few rounds at most).

Idempotent: ids without rows or files are no-ops, so a retried or repeated job does nothing more.

Late events (documented in the README): once the job has finished, an event for a deleted trace,
observation or score id is merged with nothing, since the old events and rows are gone: it creates
a new entity holding only what the late events carry. Events accepted before the deletion whose
ingestion job runs while or after it (the request files under `{prefix}ingestion/` are kept) are
such late events too. Observations or scores arriving later with the deleted trace id are listed
under that id, and GET /traces/{id} stays 404 until a trace event for the id arrives.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from langfuse_aio.domain.blob_keys import entity_prefix
from langfuse_aio.storage.blob.base import BlobStore
from langfuse_aio.storage.clickhouse import deletion_queries
from langfuse_aio.storage.clickhouse.base import ClickHouse
from langfuse_aio.storage.redis.locks import EntityLocks

log = structlog.get_logger(__name__)

TRACES_PER_CHUNK = 100
ENTITIES_PER_BATCH = 1_000
LOCK_WAIT_SECONDS = 20.0
MAX_ROUNDS = 3
_LIST_CONCURRENCY = 16
_TABLES = {"trace": "traces", "observation": "observations", "score": "scores"}

Entity = tuple[str, str]


class EntitiesBusyError(Exception):
    """Some entities stayed locked by the worker for the whole wait; the job retries later."""


@dataclass
class DeletionReport:
    traces: int = 0
    observations: int = 0
    scores: int = 0
    event_files: int = 0


def entity_lock_name(project_id: str, entity_type: str, entity_id: str) -> str:
    """The worker's lock name for an entity (as `IngestionProcessor` and `score_deletion` name it)."""
    return f"{project_id}:{entity_type}:{entity_id}"


class TraceDeleter:
    def __init__(self, *, ch: ClickHouse, blob: BlobStore, locks: EntityLocks, prefix: str) -> None:
        self._ch = ch
        self._blob = blob
        self._locks = locks
        self._prefix = prefix

    async def delete(self, project_id: str, trace_ids: Sequence[str]) -> DeletionReport:
        report = DeletionReport()
        wanted = list(dict.fromkeys(trace_ids))
        for start in range(0, len(wanted), TRACES_PER_CHUNK):
            await self._delete_chunk(project_id, wanted[start : start + TRACES_PER_CHUNK], report)
        return report

    async def _delete_chunk(self, project_id: str, trace_ids: list[str], report: DeletionReport) -> None:
        done: set[Entity] = set()
        pending: list[Entity] = [("trace", t) for t in trace_ids]
        for round_no in range(1, MAX_ROUNDS + 1):
            pending += await self._children(project_id, trace_ids, done | set(pending))
            if not pending:
                return
            for start in range(0, len(pending), ENTITIES_PER_BATCH):
                batch = pending[start : start + ENTITIES_PER_BATCH]
                await self._delete_batch(project_id, batch, report)
            done.update(pending)
            log.info("trace_deletion_progress", project_id=project_id, traces=len(trace_ids), round=round_no,
                     entities=len(pending))
            pending = []
        late = await self._children(project_id, trace_ids, done)
        if late:  # still being written to while we deleted: these are late events now
            log.warning("trace_deletion_left_late_entities", project_id=project_id, entities=len(late))

    async def _children(self, project_id: str, trace_ids: list[str], skip: set[Entity]) -> list[Entity]:
        found: list[Entity] = []
        for entity_type in ("observation", "score"):
            ids = await deletion_queries.ids_of_traces(self._ch, _TABLES[entity_type], project_id, trace_ids)
            found += [(entity_type, i) for i in ids if (entity_type, i) not in skip]
        return found

    async def _delete_batch(self, project_id: str, batch: list[Entity], report: DeletionReport) -> None:
        names = [entity_lock_name(project_id, *e) for e in batch]
        token = f"delete-{uuid.uuid4()}"
        await self._lock_all(names, token)
        try:
            gate = asyncio.Semaphore(_LIST_CONCURRENCY)

            async def keys_of(entity: Entity) -> list[str]:
                async with gate:
                    return await self._blob.list(entity_prefix(self._prefix, project_id, *entity))

            keys = [k for ks in await asyncio.gather(*(keys_of(e) for e in batch)) for k in ks]
            await self._blob.delete(keys)
            for entity_type, table in _TABLES.items():
                ids = [i for t, i in batch if t == entity_type]
                if ids:
                    await deletion_queries.delete_ids(self._ch, table, project_id, ids)
        finally:
            await self._locks.release(names, token)
        report.event_files += len(keys)
        report.traces += sum(1 for t, _ in batch if t == "trace")
        report.observations += sum(1 for t, _ in batch if t == "observation")
        report.scores += sum(1 for t, _ in batch if t == "score")

    async def _lock_all(self, names: list[str], token: str) -> None:
        """All of `names` or none: partial holds released at once, then a jittered retry."""
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            got = await self._locks.acquire(names, token)
            if len(got) == len(names):
                return
            await self._locks.release(got, token)
            if time.monotonic() >= deadline:
                raise EntitiesBusyError(f"{len(names) - len(got)} of {len(names)} entities stayed locked")
            await asyncio.sleep(0.02 + random.random() * 0.08)  # noqa: S311 - jitter, not security
