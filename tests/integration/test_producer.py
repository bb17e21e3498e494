"""The producer stores one request file per accepted request and queues one job naming its entities."""

from __future__ import annotations

import uuid

import orjson
import pytest

from langfuse_aio.domain import json_codec
from langfuse_aio.runtime.resources import Resources
from langfuse_aio.services.ingestion import IngestionProducer

pytestmark = pytest.mark.integration


def _events(run: str) -> list[dict[str, object]]:
    return [
        {"id": f"{run}-e1", "type": "trace-create", "timestamp": "2026-12-05T10:00:00.000Z",
         "body": {"id": f"{run}-t", "name": "ünïcode", "metadata": {"ns": 1733400000123456789}}},
        {"id": f"{run}-e2", "type": "span-create", "timestamp": "2026-12-05T10:00:00.000Z",
         "body": {"id": f"{run}-s", "traceId": f"{run}-t"}},
        {"id": f"{run}-e3", "type": "span-update", "timestamp": "2026-12-05T10:00:01.000Z",
         "body": {"id": f"{run}-s", "traceId": f"{run}-t", "output": "done"}},
    ]


async def _job_entities(res: Resources, key: str) -> list[list[str]]:
    for job in await res.redis.queued_jobs(queue_name="langfuse-aio:test-producer"):
        if list(job.args)[2:] == [key]:
            return list(job.args[1])
    raise AssertionError(f"no job for {key}")


async def test_encoded_events_are_stored_and_queued_as_plain_ones(resources: Resources) -> None:
    producer = IngestionProducer(blob=resources.blob, redis=resources.redis, prefix=resources.settings.s3.prefix,
                                 delay_ms=0, queue_name="langfuse-aio:test-producer")
    run = uuid.uuid4().hex
    events = _events(run)
    plain_key = await producer.submit("p-producer", events)
    encoded_key = await producer.submit_encoded(
        "p-producer", json_codec.dumps(events), [("trace", f"{run}-t"), ("observation", f"{run}-s")])
    assert plain_key is not None and encoded_key is not None and plain_key != encoded_key
    plain = json_codec.loads(await resources.blob.get(plain_key))
    encoded = orjson.loads(await resources.blob.get(encoded_key))  # one valid JSON document
    assert encoded["projectId"] == plain["projectId"] == "p-producer"
    assert encoded["events"] == plain["events"] == events
    assert set(encoded) == {"projectId", "receivedAt", "events"}
    expected = [["trace", f"{run}-t"], ["observation", f"{run}-s"]]
    assert await _job_entities(resources, plain_key) == expected
    assert await _job_entities(resources, encoded_key) == expected


async def test_nothing_to_store_stores_and_queues_nothing(resources: Resources) -> None:
    producer = IngestionProducer(blob=resources.blob, redis=resources.redis, prefix=resources.settings.s3.prefix,
                                 delay_ms=0, queue_name="langfuse-aio:test-producer-empty")
    assert await producer.submit("p-producer", []) is None
    assert await producer.submit_encoded("p-producer", b"[]", []) is None
    assert await resources.redis.queued_jobs(queue_name="langfuse-aio:test-producer-empty") == []
