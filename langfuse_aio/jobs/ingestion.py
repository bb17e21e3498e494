"""The ingestion job: one per accepted request, or a follow-up for entities that were busy."""

from __future__ import annotations

import time
from typing import Any

import psycopg
import structlog
from arq.worker import Retry
from redis.exceptions import RedisError

from langfuse_aio.runtime.resources import Resources
from langfuse_aio.services.processing import IngestionProcessor
from langfuse_aio.services.project_deletion import DELETED_CHECK_TTL_SECONDS
from langfuse_aio.storage.blob.base import BlobStoreError
from langfuse_aio.storage.clickhouse.base import ClickHouseError
from langfuse_aio.storage.postgres.project_deletion import project_exists

log = structlog.get_logger(__name__)

# Store failures are worth retrying; anything else is a bug, and retrying it would not help.
RETRYABLE = (ClickHouseError, BlobStoreError, RedisError, psycopg.OperationalError, OSError)


class DeletedProjects:
    """Whether a project is soft-deleted, asked of Postgres at most once per TTL per project.

    A job queued before its project was deleted must not write rows after the project's deletion
    job has removed them; a project that disappears entirely counts as deleted too."""

    def __init__(self, ttl_seconds: float = DELETED_CHECK_TTL_SECONDS) -> None:
        self._ttl = ttl_seconds
        self._seen: dict[str, tuple[float, bool]] = {}

    async def is_deleted(self, res: Resources, project_id: str) -> bool:
        now = time.monotonic()
        cached = self._seen.get(project_id)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        exists, soft_deleted = await project_exists(res.pg, project_id)
        deleted = soft_deleted or not exists
        if len(self._seen) > 10_000:
            self._seen.clear()
        self._seen[project_id] = (now, deleted)
        return deleted


def backoff_seconds(job_try: int) -> float:
    return float(min(60.0, 0.5 * 2 ** max(0, job_try - 1)))


async def process_ingestion(
    ctx: dict[str, Any], project_id: str, entities: list[list[str]], file_key: str | None = None
) -> dict[str, int]:
    processor: IngestionProcessor = ctx["processor"]
    job_try = int(ctx.get("job_try", 1))
    bound = log.bind(job_id=ctx.get("job_id"), project_id=project_id, job_try=job_try)
    deleted: DeletedProjects = ctx.setdefault("deleted_projects", DeletedProjects())
    try:
        if await deleted.is_deleted(ctx["resources"], project_id):
            bound.info("ingestion_job_skipped_deleted_project", entities=len(entities))
            return {"rows": 0, "deferred": 0, "failed": 0}
        outcome = await processor.process(
            project_id, [(e[0], e[1]) for e in entities], file_key, token=str(ctx.get("job_id"))
        )
    except RETRYABLE as exc:
        defer = backoff_seconds(job_try)
        bound.warning("ingestion_job_retry", error=f"{type(exc).__name__}: {exc}", defer_seconds=defer)
        raise Retry(defer=defer) from exc
    bound.debug("ingestion_job_done", rows=outcome.written, deferred=len(outcome.deferred), failed=outcome.failed)
    return {"rows": outcome.written, "deferred": len(outcome.deferred), "failed": outcome.failed}
