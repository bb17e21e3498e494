"""Deleting a project: keys revoked at once, data removed by a background job.

`revoke_project` (run by `langfuse-aio projects delete`), in this order:
1. drop the project's keys from this process's in-process auth cache, collect the fast hashes of
   its API keys and delete their Redis cache entries (`api-key:<hash>`) *before* anything else
   (Langfuse v3.0.0 deleted the rows first and then found nothing to invalidate, so cached keys
   kept working);
2. in one Postgres transaction delete the keys and set `projects.deleted_at`;
3. delete the same cache entries again, and once more after `RECHECK_SECONDS`: a request that read a
   key row just before the commit may have re-cached it meanwhile.
From then on every key of the project fails with 401 (auth also skips soft-deleted projects), so
its ingestion is refused; another process (a server while the CLI runs this) may still accept a
key from its in-process auth cache for at most `LOCAL_TTL_SECONDS` (0.5 s). The project row stays, soft-deleted.

`ProjectDataDeleter` (the `delete_project` job): lightweight DELETE of the project's rows from
traces, observations and scores, then, only with LANGFUSE_AIO_DELETE_BLOBS_ON_PROJECT_DELETE=true,
every blob under `{prefix}{projectId}/` and `{prefix}ingestion/{projectId}/`. Idempotent; a row an
ingestion job still wrote after the DELETE is caught by a final count and a second DELETE.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import structlog
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from langfuse_aio.domain.blob_keys import project_prefix, safe_segment
from langfuse_aio.services.auth import CACHE_PREFIX, ApiKeyAuth
from langfuse_aio.storage.blob.base import BlobStore
from langfuse_aio.storage.clickhouse import deletion_queries
from langfuse_aio.storage.clickhouse.base import ClickHouse
from langfuse_aio.storage.postgres import project_deletion as pg_projects

log = structlog.get_logger(__name__)

RECHECK_SECONDS = 0.2
# Ingestion jobs cache "is this project deleted?" for this long (jobs.ingestion.DeletedProjects); the
# deleter's final recount waits it out, so a job that read a stale "no" has written by then.
DELETED_CHECK_TTL_SECONDS = 1.0
TABLES = ("traces", "observations", "scores")
_BLOB_DELETE_CHUNK = 1_000


class ProjectNotFoundError(Exception):
    pass


@dataclass(frozen=True)
class Revocation:
    keys_deleted: int
    already_deleted: bool


async def _drop_cached(redis: Redis | None, hashes: list[str]) -> None:
    if redis is not None and hashes:
        await redis.delete(*(CACHE_PREFIX + h for h in hashes))


async def revoke_project(
    pool: AsyncConnectionPool[Any], redis: Redis | None, project_id: str, *, auth: ApiKeyAuth | None = None
) -> Revocation:
    """`auth`: this process's authenticator, whose in-process cache is dropped at once too (other
    processes' in-process entries expire within `auth.LOCAL_TTL_SECONDS`, under a second)."""
    exists, already = await pg_projects.project_exists(pool, project_id)
    if not exists:
        raise ProjectNotFoundError(f"no project with id {project_id!r}")
    if auth is not None:
        await auth.invalidate_project_keys(project_id)
    hashes = await pg_projects.key_hashes(pool, project_id)
    await _drop_cached(redis, hashes)
    keys = await pg_projects.revoke_keys_and_mark_deleted(pool, project_id)
    await _drop_cached(redis, hashes)
    await asyncio.sleep(RECHECK_SECONDS)
    await _drop_cached(redis, hashes)
    log.info("project_revoked", project_id=project_id, api_keys_deleted=keys, already_deleted=already)
    return Revocation(keys, already)


def request_files_prefix(prefix: str, project_id: str) -> str:
    """Where the project's accepted requests are kept (see `blob_keys.request_key`)."""
    return f"{prefix}ingestion/{safe_segment(project_id)}/"


class ProjectDataDeleter:
    def __init__(self, *, ch: ClickHouse, blob: BlobStore, prefix: str, delete_blobs: bool,
                 settle_seconds: float = DELETED_CHECK_TTL_SECONDS + 0.5) -> None:
        self._settle = settle_seconds
        self._ch = ch
        self._blob = blob
        self._prefix = prefix
        self._delete_blobs = delete_blobs

    async def delete(self, project_id: str) -> dict[str, int]:
        bound = log.bind(project_id=project_id)
        before = {t: await deletion_queries.count_project_rows(self._ch, t, project_id) for t in TABLES}
        for table in TABLES:
            await deletion_queries.delete_project(self._ch, table, project_id)
            bound.info("project_deletion_table_done", table=table, rows=before[table])
        await asyncio.sleep(self._settle)
        left = {t: await deletion_queries.count_project_rows(self._ch, t, project_id) for t in TABLES}
        for table, n in left.items():
            if n:  # written by an ingestion job that was still running
                await deletion_queries.delete_project(self._ch, table, project_id)
                bound.info("project_deletion_table_redone", table=table, rows=n)
        files = 0
        if self._delete_blobs:
            for where in (project_prefix(self._prefix, project_id), request_files_prefix(self._prefix, project_id)):
                keys = await self._blob.list(where)
                for start in range(0, len(keys), _BLOB_DELETE_CHUNK):
                    await self._blob.delete(keys[start : start + _BLOB_DELETE_CHUNK])
                files += len(keys)
                bound.info("project_deletion_blobs_done", prefix=where, files=len(keys))
        else:
            bound.info("project_deletion_blobs_kept", prefix=project_prefix(self._prefix, project_id))
        return {**{t: before[t] for t in TABLES}, "event_files": files}
