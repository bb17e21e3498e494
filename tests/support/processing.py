"""Driving the worker's IngestionProcessor directly: one request file in, merged rows out."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from langfuse_aio.domain.blob_keys import request_key
from langfuse_aio.domain.entities import entity_type_of
from langfuse_aio.domain.json_codec import dumps
from langfuse_aio.jobs.worker import build_processor
from langfuse_aio.runtime.resources import Resources
from langfuse_aio.services.processing import IngestionProcessor
from langfuse_aio.storage.clickhouse.writer import ClickHouseWriter


@contextlib.asynccontextmanager
async def open_processor(resources: Resources) -> AsyncIterator[IngestionProcessor]:
    writer = ClickHouseWriter(resources.clickhouse, interval_seconds=0.02)
    await writer.start()
    try:
        # A queue no worker reads: nothing here may be deferred.
        yield build_processor(resources, writer, queue_name=f"test-processor-{uuid.uuid4().hex}")
    finally:
        await writer.close()


async def process_request(resources: Resources, processor: IngestionProcessor, project_id: str,
                          events: list[dict[str, Any]]) -> None:
    """Store `events` as one accepted request and process it as its job would; nothing may be
    deferred or fail."""
    key = request_key(resources.settings.s3.prefix, project_id, datetime.now(UTC), uuid.uuid4().hex)
    await resources.blob.put(key, dumps({"projectId": project_id, "events": events}))
    entities = list(dict.fromkeys((entity_type_of(e["type"]), e["body"]["id"]) for e in events))
    outcome = await processor.process(project_id, entities, key, token=uuid.uuid4().hex)
    assert outcome.deferred == [] and outcome.failed == 0
