"""Our `langfuse_aio_ingestion_errors` table (Postgres migration 0006): entities the worker can never
process, with the reason and the blob keys of their stored events, so the queue moves on and an
operator can see what was skipped and why."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from psycopg_pool import AsyncConnectionPool

log = structlog.get_logger(__name__)

_INSERT = (
    "INSERT INTO langfuse_aio_ingestion_errors (project_id, entity_type, entity_id, reason, blob_keys) "
    "VALUES (%s, %s, %s, %s, %s)"
)


@dataclass(frozen=True)
class Unprocessable:
    entity: tuple[str, str]  # (entity type, id)
    reason: str
    keys: tuple[str, ...] = ()


async def record_unprocessable(
    pg: AsyncConnectionPool[Any], project_id: str, failures: Sequence[Unprocessable]
) -> None:
    """Log each entity as an error event and store it, all in one statement batch."""
    for failure in failures:
        log.error("ingestion_entity_unprocessable", project_id=project_id, entity_type=failure.entity[0],
                  entity_id=failure.entity[1], reason=failure.reason)
    async with pg.connection() as conn, conn.cursor() as cur:
        await cur.executemany(
            _INSERT, [(project_id, f.entity[0], f.entity[1], f.reason, list(f.keys)) for f in failures])
