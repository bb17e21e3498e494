"""The arq worker, built from Resources by a function (never from module-level settings)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog
from arq.worker import Worker, func

from langfuse_aio.jobs import definitions
from langfuse_aio.jobs.serialization import job_deserializer, job_serializer
from langfuse_aio.runtime.resources import Resources

log = structlog.get_logger(__name__)


async def ping(ctx: dict[str, Any], value: str) -> str:
    return value


def build_worker(resources: Resources, *, queue_name: str = definitions.QUEUE_NAME) -> Worker:
    return Worker(
        functions=[func(ping, name=definitions.PING, max_tries=3)],
        cron_jobs=[],
        queue_name=queue_name,
        redis_pool=resources.redis,
        handle_signals=False,
        max_jobs=resources.settings.worker_concurrency,
        poll_delay=0.05,
        job_serializer=job_serializer,
        job_deserializer=job_deserializer,
        ctx={"resources": resources},
        keep_result=60,
    )


async def run_until_stopped(worker: Worker, stop: asyncio.Event, *, grace_seconds: float = 7.0) -> None:
    """Run the worker until `stop` is set, then stop taking jobs and let running ones finish."""
    main = asyncio.create_task(worker.main(), name="arq-worker")
    worker.main_task = main
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait({main, stopper}, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if main.done():
        main.result()  # the worker died on its own: surface why
        return
    worker.allow_pick_jobs = False
    running = [t for t in worker.tasks.values() if not t.done()]
    log.info("worker_draining", running_jobs=len(running))
    if running:
        _, pending = await asyncio.wait(running, timeout=grace_seconds)
        for task in pending:  # arq retries these after their in-progress key expires
            task.cancel()
    main.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await main
    with contextlib.suppress(Exception):
        await worker.pool.delete(worker.health_check_key)
    log.info("worker_stopped", jobs_complete=worker.jobs_complete, jobs_failed=worker.jobs_failed)
