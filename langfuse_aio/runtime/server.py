"""Runs the web half, the worker half, or both in one event loop, and stops them in order.

SIGTERM/SIGINT: the web half stops accepting and finishes in-flight requests, then the worker
stops taking jobs and lets running ones finish, then the stores close in reverse order of
opening (embedded child processes last).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

import structlog
from hypercorn.asyncio import serve
from hypercorn.config import Config

from langfuse_aio.jobs.worker import build_worker, release_abandoned_jobs, run_until_stopped
from langfuse_aio.runtime.resources import Resources, open_resources
from langfuse_aio.services.provisioning import CreatedKey, apply_headless_init, create_default_project
from langfuse_aio.settings import Mode, Settings
from langfuse_aio.storage.clickhouse.writer import ClickHouseWriter
from langfuse_aio.web.app import create_app

log = structlog.get_logger(__name__)

GRACE_SECONDS = 4.0  # each half gets this long to drain, so the process exits well inside 10 s


def _bind(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _announce_default_key(key: CreatedKey, settings: Settings) -> None:
    host = "localhost" if settings.host in ("0.0.0.0", "::") else settings.host  # noqa: S104
    print(
        "\n"
        "langfuse-aio created a default project and API key. The secret is shown only this once:\n"
        f"  LANGFUSE_PUBLIC_KEY={key.public_key}\n"
        f"  LANGFUSE_SECRET_KEY={key.secret_key}\n"
        f"  LANGFUSE_HOST=http://{host}:{settings.port}\n",
        flush=True,
        file=sys.stdout,
    )


async def provision(res: Resources) -> None:
    settings = res.settings
    async with res.pg.connection() as conn, conn.transaction():
        await apply_headless_init(conn, settings.init, salt=res.salt)
        key = None
        if settings.database_url is None and settings.init.org_id is None:
            key = await create_default_project(conn, salt=res.salt)
    if key is not None:
        _announce_default_key(key, settings)


def hypercorn_config(bind: str) -> Config:
    """Hypercorn's settings for the public port (the benchmarks' ceiling apps use them too)."""
    config = Config()
    config.bind = [bind]
    config.graceful_timeout = GRACE_SECONDS
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.keep_alive_timeout = 75
    return config


async def _serve_web(res: Resources, stop: asyncio.Event) -> None:
    config = hypercorn_config(_bind(res.settings.host, res.settings.port))
    await serve(create_app(res), config, shutdown_trigger=stop.wait)


async def run(settings: Settings, mode: Mode) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with open_resources(settings) as res:
        if mode is not Mode.WORKER:
            await provision(res)
        worker_stop = asyncio.Event()
        tasks: list[asyncio.Task[None]] = []
        writer = ClickHouseWriter(res.clickhouse, max_rows=settings.clickhouse_write_batch_size,
                                  interval_seconds=settings.clickhouse_write_interval_ms / 1000)
        if mode is not Mode.WEB:
            if settings.redis.embedded:
                await release_abandoned_jobs(res.redis)
            await writer.start()
            worker = build_worker(res, writer)
            tasks.append(asyncio.create_task(run_until_stopped(worker, worker_stop, grace_seconds=GRACE_SECONDS)))
        log.info("server_started", mode=mode.value, host=settings.host, port=settings.port)
        if mode is not Mode.WORKER:
            await _serve_web(res, stop)
        else:
            await stop.wait()
        log.info("shutting_down", mode=mode.value)
        worker_stop.set()
        await asyncio.gather(*tasks)
        await writer.close()
    log.info("stopped")
