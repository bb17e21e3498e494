"""The worker's shortcut for entities without a row gives the same rows as a full replay.

A job merges only its own events for an entity that has no ClickHouse row yet, and replays every
stored event over the row otherwise (services/processing.py, `_load_events`). Two requests touching
the same trace and observation, processed in either order, must end as one request holding both.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest

from langfuse_aio.domain.blob_keys import entity_prefix
from langfuse_aio.runtime.resources import Resources
from langfuse_aio.services.processing import IngestionProcessor
from langfuse_aio.storage.clickhouse.repositories import fetch_current_rows
from tests.factories import make_project
from tests.support.processing import open_processor, process_request

pytestmark = pytest.mark.integration

# Columns that record when a row was written, not what the events said.
VOLATILE = {"project_id", "event_ts", "updated_at", "created_at"}


@pytest.fixture
async def processor(resources: Resources) -> AsyncIterator[IngestionProcessor]:
    async with open_processor(resources) as processor:
        yield processor


def envelope(kind: str, ts: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "type": kind, "timestamp": ts, "body": body}


def requests(trace_id: str, obs_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    first = [
        envelope("trace-create", "2026-12-01T10:00:00.000Z",
                 {"id": trace_id, "name": "first", "timestamp": "2026-12-01T10:00:00.000Z", "tags": ["a"],
                  "metadata": {"from": "first"}}),
        envelope("span-create", "2026-12-01T10:00:00.100Z",
                 {"id": obs_id, "traceId": trace_id, "name": "span", "startTime": "2026-12-01T10:00:00.100Z",
                  "input": {"q": 1}, "level": "WARNING"}),
    ]
    second = [
        envelope("trace-create", "2026-12-01T10:00:01.000Z",
                 {"id": trace_id, "userId": "user-1", "output": "done", "metadata": {"then": "second"}}),
        envelope("span-update", "2026-12-01T10:00:01.100Z",
                 {"id": obs_id, "traceId": trace_id, "endTime": "2026-12-01T10:00:01.100Z", "output": {"a": 2}}),
    ]
    return first, second



async def merged(resources: Resources, project_id: str, trace_id: str, obs_id: str) -> dict[str, Mapping[str, Any]]:
    trace = (await fetch_current_rows(resources.clickhouse, "traces", project_id, [trace_id]))[trace_id]
    obs = (await fetch_current_rows(resources.clickhouse, "observations", project_id, [obs_id]))[obs_id]
    return {name: {k: v for k, v in row.items() if k not in VOLATILE} for name, row in
            (("trace", trace), ("observation", obs))}


async def test_either_order_of_two_requests_equals_one_full_replay(
    resources: Resources, processor: IngestionProcessor
) -> None:
    trace_id, obs_id = f"t-{uuid.uuid4().hex}", f"o-{uuid.uuid4().hex}"
    first, second = requests(trace_id, obs_id)
    results = []
    for order in ([first, second], [second, first], [first + second]):
        project = await make_project(resources)
        for events in order:
            await process_request(resources, processor, project.id, events)
        results.append(await merged(resources, project.id, trace_id, obs_id))
        # Every event is stored per entity, whichever path merged it, for later full replays.
        stored = await resources.blob.list(entity_prefix(resources.settings.s3.prefix, project.id, "trace", trace_id))
        assert len(stored) == len(order)
    in_order, reversed_order, together = results
    assert in_order == together
    assert reversed_order == together
    assert together["trace"]["name"] == "first" and together["trace"]["user_id"] == "user-1"
    assert together["observation"]["level"] == "WARNING" and together["observation"]["end_time"] is not None


async def test_a_follow_up_job_replays_every_stored_event(
    resources: Resources, processor: IngestionProcessor
) -> None:
    trace_id, obs_id = f"t-{uuid.uuid4().hex}", f"o-{uuid.uuid4().hex}"
    first, second = requests(trace_id, obs_id)
    project = await make_project(resources)
    await process_request(resources, processor, project.id, first + second)
    before = await merged(resources, project.id, trace_id, obs_id)
    outcome = await processor.process(project.id, [("trace", trace_id), ("observation", obs_id)], None,
                                      token=uuid.uuid4().hex)
    assert outcome.written == 2 and outcome.deferred == []
    assert await merged(resources, project.id, trace_id, obs_id) == before
