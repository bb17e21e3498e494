"""The composition root: opens every store once, in order, and closes them in reverse.

Embedded children (Postgres, Valkey) start first when their URLs are unset; then the Postgres
pool (and its schema migrations), Redis, ClickHouse (and its migrations) and the blob store.
Everything is registered on one AsyncExitStack, so a failure halfway closes what was opened.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import structlog
from arq import create_pool
from arq.connections import ArqRedis
from arq.connections import RedisSettings as ArqRedisSettings
from psycopg_pool import AsyncConnectionPool

from langfuse_aio.jobs.serialization import job_deserializer, job_serializer
from langfuse_aio.migrations.clickhouse_apply import apply_clickhouse_migrations
from langfuse_aio.migrations.postgres_apply import apply_postgres_migrations
from langfuse_aio.runtime import embedded
from langfuse_aio.runtime.child_pool import ChildPool
from langfuse_aio.services.auth import ApiKeyAuth
from langfuse_aio.services.model_defaults import upsert_packaged_models
from langfuse_aio.settings import Settings
from langfuse_aio.storage.blob.base import BlobStore
from langfuse_aio.storage.blob.localfs import LocalBlobStore
from langfuse_aio.storage.blob.s3 import open_s3
from langfuse_aio.storage.clickhouse.base import ClickHouse
from langfuse_aio.storage.clickhouse.chdb_backend import open_chdb
from langfuse_aio.storage.clickhouse.http_backend import open_http
from langfuse_aio.storage.postgres.models import ModelCatalog
from langfuse_aio.tokenization.pool import TokenizerPool

log = structlog.get_logger(__name__)


@dataclass
class Resources:
    settings: Settings
    salt: str
    pg: AsyncConnectionPool[Any]
    redis: ArqRedis
    clickhouse: ClickHouse
    blob: BlobStore
    auth: ApiKeyAuth
    embedded_pids: list[int]
    models: ModelCatalog  # cached model/price lookup (worker) and its invalidation (models API)
    tokenizer: TokenizerPool  # token counting off the loop, in child processes
    otlp_decoder: ChildPool  # OTLP decoding and span conversion off the loop (web/otlp_decoding.py)


def resolve_salt(settings: Settings) -> str:
    """SALT from the environment, or (embedded Postgres only) one generated once and kept in the data dir."""
    if settings.salt is not None:
        return settings.salt
    path = settings.data_dir / "salt"
    if path.exists():
        return path.read_text().strip()
    salt = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(salt)
    return salt


async def _open_postgres(settings: Settings, stack: contextlib.AsyncExitStack, pids: list[int]) -> str:
    if settings.database_url is not None:
        return settings.database_url
    server = await embedded.start_embedded_postgres(settings.data_dir / "postgres")
    stack.push_async_callback(server.astop)
    pids.extend(server.pids())
    return server.url


async def _open_redis_url(settings: Settings, stack: contextlib.AsyncExitStack, pids: list[int]) -> str:
    if settings.redis.url is not None:
        return settings.redis.url
    server = await embedded.start_embedded_valkey(settings.data_dir / "valkey")
    stack.push_async_callback(server.astop)
    pids.extend(server.pids())
    return server.url


async def _open_clickhouse(settings: Settings) -> ClickHouse:
    ch = settings.clickhouse
    if ch.url is None:
        return await open_chdb(settings.data_dir / "clickhouse", ch.database)
    return await open_http(ch.url, ch.user, ch.password, ch.database)


async def _open_blob(settings: Settings, writer: ChildPool) -> BlobStore:
    s3 = settings.s3
    if s3.bucket is None:
        return LocalBlobStore(settings.data_dir / "events", writer=writer)
    return await open_s3(
        bucket=s3.bucket,
        region=s3.region,
        endpoint=s3.endpoint,
        access_key_id=s3.access_key_id,
        secret_access_key=s3.secret_access_key,
        force_path_style=s3.force_path_style,
    )


@contextlib.asynccontextmanager
async def open_postgres(settings: Settings) -> AsyncIterator[AsyncConnectionPool[Any]]:
    """Postgres alone, for admin commands that need nothing else (no migrations run). On embedded
    Postgres this starts the server under the data dir, so the langfuse-aio server must be stopped."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    async with contextlib.AsyncExitStack() as stack:
        database_url = await _open_postgres(settings, stack, [])
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            database_url, min_size=1, max_size=2, open=False, kwargs={"autocommit": True}
        )
        await pool.open(wait=True, timeout=30)
        stack.push_async_callback(pool.close)
        yield pool


@contextlib.asynccontextmanager
async def open_resources(settings: Settings, *, migrate: bool = True) -> AsyncIterator[Resources]:
    started = time.monotonic()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    pids: list[int] = []
    async with contextlib.AsyncExitStack() as stack:
        database_url = await _open_postgres(settings, stack, pids)
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            database_url, min_size=1, max_size=10, open=False, kwargs={"autocommit": True}
        )
        await pool.open(wait=True, timeout=30)
        stack.push_async_callback(pool.close)
        if migrate and not settings.auto_postgres_migration_disabled:
            async with pool.connection() as conn:
                applied = await apply_postgres_migrations(conn)
            log.info("postgres_migrations_applied", versions=applied)
        if migrate:
            await upsert_packaged_models(pool)

        redis_url = await _open_redis_url(settings, stack, pids)
        redis = await create_pool(
            ArqRedisSettings.from_dsn(redis_url),
            job_serializer=job_serializer,
            job_deserializer=job_deserializer,
        )
        stack.push_async_callback(redis.aclose)

        clickhouse = await _open_clickhouse(settings)
        stack.push_async_callback(clickhouse.close)
        if migrate and not settings.auto_clickhouse_migration_disabled:
            cluster = settings.clickhouse.cluster_name if settings.clickhouse.cluster_enabled else None
            applied = await apply_clickhouse_migrations(clickhouse, cluster=cluster)
            log.info("clickhouse_migrations_applied", versions=applied)

        blob_writer = ChildPool("blob-writer", processes=settings.blob_writer_processes)  # started on first use
        stack.push_async_callback(blob_writer.close)
        blob = await _open_blob(settings, blob_writer)
        stack.push_async_callback(blob.close)

        salt = resolve_salt(settings)
        auth = ApiKeyAuth(
            pool,
            redis,
            salt=salt,
            cache_enabled=settings.cache_api_key_enabled,
            cache_ttl_seconds=settings.cache_api_key_ttl_seconds,
        )
        log.info("stores_open", seconds=round(time.monotonic() - started, 3),
                 embedded_pids=pids, clickhouse="chdb" if settings.clickhouse.embedded else "http")
        tokenizer = TokenizerPool(
            processes=settings.tokenizer_processes, cache_dir=settings.data_dir / "tiktoken",
            timeout_seconds=settings.tokenizer_timeout_ms / 1000, max_chars=settings.tokenizer_max_chars,
        )
        stack.push_async_callback(tokenizer.close)
        models = ModelCatalog(pool, ttl_seconds=settings.model_cache_ttl_seconds)
        otlp_decoder = ChildPool("otlp-decoder", processes=settings.otlp_decode_processes)  # started on first use
        stack.push_async_callback(otlp_decoder.close)
        yield Resources(settings, salt, pool, redis, clickhouse, blob, auth, pids, models, tokenizer, otlp_decoder)
        log.info("stores_closing")
