"""Deleting one score, synchronously, so that nothing can bring it back.

Langfuse v3.0.0 looked the score up in Postgres and answered 404 for every score that lived only in
ClickHouse; today's Langfuse queues the deletion and answers 202 at once. Here the deletion is done
before the answer, under the score's entity lock (the worker's lock, so no merge of the same score
runs meanwhile):
1. read the score's latest live row (None: the caller answers 404);
2. delete the score's event files (`{prefix}{projectId}/score/{scoreId}/…`), so a replay of the
   blob store cannot recreate it;
3. insert a tombstone: a copy of that row with `is_deleted = 1` and a later `event_ts`.
In this order a failure at 3 leaves the score visible, and a repeated DELETE finishes the job.
Limitation: the whole request file under `{prefix}ingestion/…` that first carried the score is kept
(it holds other events too); only a replay of request files, not of entity files, would see it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import structlog

from langfuse_aio.domain.blob_keys import entity_prefix
from langfuse_aio.domain.errors import LangfuseError
from langfuse_aio.storage.blob.base import BlobStore
from langfuse_aio.storage.clickhouse.base import ClickHouse
from langfuse_aio.storage.clickhouse.score_queries import get_score
from langfuse_aio.storage.redis.locks import EntityLocks

log = structlog.get_logger(__name__)

LOCK_WAIT_SECONDS = 5.0
_MS = timedelta(milliseconds=1)


class ScoreBusyError(LangfuseError):
    """The worker held the score's lock for the whole wait; the client may retry."""

    status = 503
    error = "ServiceUnavailableError"


def score_lock_name(project_id: str, score_id: str) -> str:
    """The worker's entity-lock name for a score (`IngestionProcessor` locks `{project}:{type}:{id}`)."""
    return f"{project_id}:score:{score_id}"


async def delete_score(
    *, ch: ClickHouse, blob: BlobStore, locks: EntityLocks, prefix: str, project_id: str, score_id: str
) -> bool:
    """Delete the score; False when the project has no such (live) score."""
    name, token = score_lock_name(project_id, score_id), f"delete-{uuid.uuid4()}"
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while not await locks.acquire([name], token):
        if time.monotonic() >= deadline:
            raise ScoreBusyError("The score is being updated; retry the deletion")
        await asyncio.sleep(0.05)
    try:
        row = await get_score(ch, project_id, score_id)
        if row is None:
            return False
        keys = await blob.list(entity_prefix(prefix, project_id, "score", score_id))
        await blob.delete(keys)
        now = datetime.now(UTC)
        previous = row["event_ts"]
        event_ts = max(now, previous + _MS) if isinstance(previous, datetime) else now
        await ch.insert("scores", [{**row, "is_deleted": 1, "event_ts": event_ts}])
    finally:
        await locks.release([name], token)
    log.info("score_deleted", project_id=project_id, score_id=score_id, event_files=len(keys))
    return True
