"""Our default model table (Langfuse-managed models, project_id NULL) into Postgres: at start, and by
`langfuse-aio models refresh --file PATH`."""

from __future__ import annotations

import json
import time
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg
import structlog
from psycopg_pool import AsyncConnectionPool

from langfuse_aio.domain.model_table import parse_table
from langfuse_aio.storage.postgres.model_admin import UpsertResult, upsert_managed_models

log = structlog.get_logger(__name__)


def packaged_table() -> Any:
    return json.loads((resources.files("langfuse_aio.data") / "default_models.json").read_text(encoding="utf-8"))


async def refresh_models(pool: AsyncConnectionPool[Any], document: Any, *, force: bool = False) -> UpsertResult:
    """Upsert the managed models of `document` (our table, or upstream's list); ModelTableError if invalid.
    Definitions stored with a later `updatedAt` are kept unless `force`."""
    started = time.monotonic()
    result = await upsert_managed_models(pool, parse_table(document), force=force)
    log.info("default_models_upserted", written=result.written, unchanged=result.unchanged,
             seconds=round(time.monotonic() - started, 3))
    return result


async def upsert_packaged_models(pool: AsyncConnectionPool[Any]) -> None:
    """At start: never fatal (as Langfuse's worker), a failure is logged and the server starts."""
    try:
        await refresh_models(pool, packaged_table())
    except psycopg.Error as exc:
        log.error("default_models_upsert_failed", error=f"{type(exc).__name__}: {exc}")


def read_table_file(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))
