"""The ingestion job: one per accepted request, or a follow-up for entities that were busy."""

from __future__ import annotations

from typing import Any

import psycopg
import structlog
from arq.worker import Retry
from redis.exceptions import RedisError

from langfuse_aio.services.processing import IngestionProcessor
from langfuse_aio.storage.blob.base import BlobStoreError
from langfuse_aio.storage.clickhouse.base import ClickHouseError

log = structlog.get_logger(__name__)

# Store failures are worth retrying; anything else is a bug, and retrying it would not help.
RETRYABLE = (ClickHouseError, BlobStoreError, RedisError, psycopg.OperationalError, OSError)


def backoff_seconds(job_try: int) -> float:
    return float(min(60.0, 0.5 * 2 ** max(0, job_try - 1)))


async def process_ingestion(
    ctx: dict[str, Any], project_id: str, entities: list[list[str]], file_key: str | None = None
) -> dict[str, int]:
    processor: IngestionProcessor = ctx["processor"]
    job_try = int(ctx.get("job_try", 1))
    bound = log.bind(job_id=ctx.get("job_id"), project_id=project_id, job_try=job_try)
    try:
        outcome = await processor.process(
            project_id, [(e[0], e[1]) for e in entities], file_key, token=str(ctx.get("job_id"))
        )
    except RETRYABLE as exc:
        defer = backoff_seconds(job_try)
        bound.warning("ingestion_job_retry", error=f"{type(exc).__name__}: {exc}", defer_seconds=defer)
        raise Retry(defer=defer) from exc
    bound.debug("ingestion_job_done", rows=outcome.written, deferred=len(outcome.deferred), failed=outcome.failed)
    return {"rows": outcome.written, "deferred": len(outcome.deferred), "failed": outcome.failed}
