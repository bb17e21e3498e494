"""The producer: make an accepted request durable, queue it, and only then let the web half answer.

One durable blob write (the whole request) and one queue job per request, whatever the number of
events: the worker fans the request out into Langfuse's per-entity files. Either step failing
raises `IngestionUnavailable`, which the route turns into a 5xx so the SDK retries.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog
from arq.connections import ArqRedis
from redis.exceptions import RedisError

from langfuse_aio.domain import json_codec
from langfuse_aio.domain.blob_keys import request_key
from langfuse_aio.domain.entities import entities_of
from langfuse_aio.jobs import definitions
from langfuse_aio.storage.blob.base import BlobStore, BlobStoreError

log = structlog.get_logger(__name__)


class IngestionUnavailable(Exception):
    """The blob store or the queue refused the request; nothing was acknowledged."""


class IngestionProducer:
    def __init__(
        self,
        *,
        blob: BlobStore,
        redis: ArqRedis,
        prefix: str,
        delay_ms: int,
        queue_name: str = definitions.QUEUE_NAME,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._blob = blob
        self._redis = redis
        self._prefix = prefix
        self._delay = delay_ms / 1000
        self._queue = queue_name
        self._clock = clock

    async def submit(self, project_id: str, events: Sequence[Mapping[str, Any]]) -> str | None:
        """Store and queue validated events (as stored JSON envelopes); return the request file key."""
        if not events:
            return None
        return await self.submit_encoded(project_id, json_codec.dumps(list(events)), entities_of(events))

    async def submit_encoded(self, project_id: str, events_json: bytes,
                             entities: Sequence[tuple[str, str]]) -> str | None:
        """`submit` for events already encoded (a JSON array, e.g. by the OTLP decoder child) and the
        entities they name. None when there is nothing to store."""
        if events_json == b"[]":
            return None
        received_at = self._clock()
        key = request_key(self._prefix, project_id, received_at, uuid.uuid4().hex)
        head = json_codec.dumps({"projectId": project_id, "receivedAt": received_at.isoformat()})
        document = head[:-1] + b',"events":' + events_json + b"}"
        try:
            await self._blob.put(key, document)
        except BlobStoreError as exc:
            log.error("ingestion_blob_write_failed", project_id=project_id, error=str(exc))
            raise IngestionUnavailable("Failed to upload events to blob storage, aborting event processing") from exc
        try:
            await self._redis.enqueue_job(
                definitions.PROCESS_INGESTION,
                project_id,
                [list(entity) for entity in entities],
                key,
                _queue_name=self._queue,
                _defer_by=self._delay or None,
            )
        except (RedisError, OSError) as exc:
            log.error("ingestion_enqueue_failed", project_id=project_id, error=str(exc), file_key=key)
            raise IngestionUnavailable("Failed to queue events for processing") from exc
        return key
