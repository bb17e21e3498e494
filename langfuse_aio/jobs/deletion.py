"""Deletion jobs: a trace list (`DELETE /api/public/traces…`) and a project's data (`projects delete`).

Both are idempotent (a repeated or retried run finds nothing more to remove), retry store failures
and busy entity locks with exponential back-off (1 s, doubling, capped at 120 s, up to
`DELETION_MAX_TRIES` tries), and log their progress.
"""

from __future__ import annotations

from typing import Any

import structlog
from arq.worker import Retry

from langfuse_aio.jobs.ingestion import RETRYABLE
from langfuse_aio.runtime.resources import Resources
from langfuse_aio.services.project_deletion import ProjectDataDeleter
from langfuse_aio.services.trace_deletion import EntitiesBusyError, TraceDeleter
from langfuse_aio.storage.redis.locks import EntityLocks

log = structlog.get_logger(__name__)


def deletion_backoff_seconds(job_try: int) -> float:
    return float(min(120.0, 2.0 ** max(0, job_try - 1)))


def _retry(ctx: dict[str, Any], event: str, exc: Exception, **fields: Any) -> Retry:
    job_try = int(ctx.get("job_try", 1))
    defer = deletion_backoff_seconds(job_try)
    log.warning(event, job_id=ctx.get("job_id"), job_try=job_try, error=f"{type(exc).__name__}: {exc}",
                defer_seconds=defer, **fields)
    return Retry(defer=defer)


async def delete_traces(ctx: dict[str, Any], project_id: str, trace_ids: list[str]) -> dict[str, int]:
    res: Resources = ctx["resources"]
    deleter = TraceDeleter(ch=res.clickhouse, blob=res.blob, locks=EntityLocks(res.redis),
                           prefix=res.settings.s3.prefix)
    log.info("trace_deletion_started", job_id=ctx.get("job_id"), project_id=project_id, traces=len(trace_ids))
    try:
        report = await deleter.delete(project_id, trace_ids)
    except (*RETRYABLE, EntitiesBusyError) as exc:
        raise _retry(ctx, "trace_deletion_retry", exc, project_id=project_id) from exc
    log.info("trace_deletion_done", job_id=ctx.get("job_id"), project_id=project_id, traces=report.traces,
             observations=report.observations, scores=report.scores, event_files=report.event_files)
    return {"traces": report.traces, "observations": report.observations, "scores": report.scores,
            "event_files": report.event_files}


async def delete_project(ctx: dict[str, Any], project_id: str) -> dict[str, int]:
    res: Resources = ctx["resources"]
    deleter = ProjectDataDeleter(ch=res.clickhouse, blob=res.blob, prefix=res.settings.s3.prefix,
                                 delete_blobs=res.settings.delete_blobs_on_project_delete)
    log.info("project_deletion_started", job_id=ctx.get("job_id"), project_id=project_id)
    try:
        counts = await deleter.delete(project_id)
    except RETRYABLE as exc:
        raise _retry(ctx, "project_deletion_retry", exc, project_id=project_id) from exc
    log.info("project_deletion_done", job_id=ctx.get("job_id"), project_id=project_id, **counts)
    return counts
