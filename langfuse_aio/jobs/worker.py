"""The arq worker, built from Resources by a function (never from module-level settings)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog
from arq.connections import ArqRedis
from arq.constants import in_progress_key_prefix
from arq.worker import Worker, func

from langfuse_aio.jobs import definitions
from langfuse_aio.jobs.background_migrations import (
    CTX_KEY,
    OWN_CTX_KEY,
    background_migrations_cron,
    build_manager,
    build_own_jobs,
    stop_manager,
)
from langfuse_aio.jobs.deletion import delete_project, delete_traces
from langfuse_aio.jobs.ingestion import DeletedProjects, process_ingestion
from langfuse_aio.jobs.serialization import job_deserializer, job_serializer
from langfuse_aio.runtime.resources import Resources
from langfuse_aio.services.processing import Entity, IngestionProcessor
from langfuse_aio.services.usage_costs import UsageCosts
from langfuse_aio.storage.clickhouse.writer import ClickHouseWriter
from langfuse_aio.storage.redis.locks import EntityLocks

log = structlog.get_logger(__name__)

FOLLOW_UP_DEFER_SECONDS = 0.2  # a busy entity is retried once its current holder has flushed


async def ping(ctx: dict[str, Any], value: str) -> str:
    return value


def build_processor(resources: Resources, writer: ClickHouseWriter, *, queue_name: str) -> IngestionProcessor:
    async def defer(project_id: str, entities: list[Entity]) -> None:
        await resources.redis.enqueue_job(
            definitions.PROCESS_INGESTION, project_id, [list(e) for e in entities], None,
            _queue_name=queue_name, _defer_by=FOLLOW_UP_DEFER_SECONDS,
        )

    return IngestionProcessor(
        blob=resources.blob,
        clickhouse=resources.clickhouse,
        writer=writer,
        pg=resources.pg,
        locks=EntityLocks(resources.redis),
        defer=defer,
        prefix=resources.settings.s3.prefix,
        usage=UsageCosts(resources.models, resources.tokenizer),
    )


def build_worker(
    resources: Resources, writer: ClickHouseWriter, *, queue_name: str = definitions.QUEUE_NAME
) -> Worker:
    migrations = build_manager(resources)  # None when LANGFUSE_ENABLE_BACKGROUND_MIGRATIONS=false
    return Worker(
        functions=[
            func(ping, name=definitions.PING, max_tries=3),
            func(process_ingestion, name=definitions.PROCESS_INGESTION, max_tries=definitions.INGESTION_MAX_TRIES,
                 timeout=300),
            func(delete_traces, name=definitions.DELETE_TRACES, max_tries=definitions.DELETION_MAX_TRIES,
                 timeout=3600),
            func(delete_project, name=definitions.DELETE_PROJECT, max_tries=definitions.DELETION_MAX_TRIES,
                 timeout=3600),
        ],
        cron_jobs=[background_migrations_cron()] if migrations is not None else [],
        queue_name=queue_name,
        redis_pool=resources.redis,
        handle_signals=False,
        max_jobs=resources.settings.worker_concurrency,
        poll_delay=0.05,
        job_serializer=job_serializer,
        job_deserializer=job_deserializer,
        # arq hands each job a shallow copy of ctx: state meant to outlive a job lives in these objects
        ctx={"resources": resources, "processor": build_processor(resources, writer, queue_name=queue_name),
             "deleted_projects": DeletedProjects(), CTX_KEY: migrations, OWN_CTX_KEY: build_own_jobs(resources)},
        keep_result=60,
    )


async def release_abandoned_jobs(redis: ArqRedis) -> int:
    """Let jobs that a killed process was running start again now, not after their timeout, and drop
    the entity locks it held.

    Only safe when this process is the only worker, i.e. on the embedded Redis of `--mode all`."""
    keys = [key async for key in redis.scan_iter(match=in_progress_key_prefix + "*", count=1000)]
    if keys:
        await redis.delete(*keys)
    locks = await EntityLocks(redis).clear_all()
    if keys or locks:
        log.warning("abandoned_jobs_released", jobs=len(keys), entity_locks=locks)
    return len(keys)


async def run_until_stopped(worker: Worker, stop: asyncio.Event, *, grace_seconds: float = 7.0) -> None:
    """Run the worker until `stop` is set, then stop taking jobs and let running ones finish."""
    main = asyncio.create_task(worker.main(), name="arq-worker")
    worker.main_task = main
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait({main, stopper}, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if main.done():
        await stop_manager(worker.ctx, timeout=grace_seconds)
        main.result()  # the worker died on its own: surface why
        return
    worker.allow_pick_jobs = False
    # the running background migration is aborted (left unfinished, lock released) while jobs drain
    migrations = asyncio.create_task(stop_manager(worker.ctx, timeout=grace_seconds))
    running = [t for t in worker.tasks.values() if not t.done()]
    log.info("worker_draining", running_jobs=len(running))
    if running:
        _, pending = await asyncio.wait(running, timeout=grace_seconds)
        for task in pending:  # arq retries these after their in-progress key expires
            task.cancel()
    await migrations
    main.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await main
    with contextlib.suppress(Exception):
        await worker.pool.delete(worker.health_check_key)
    log.info("worker_stopped", jobs_complete=worker.jobs_complete, jobs_failed=worker.jobs_failed)
