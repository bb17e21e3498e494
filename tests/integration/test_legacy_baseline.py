"""Live updates of entities that exist only in Langfuse v2's Postgres tables (v2-migration spec §2.7).

Until the background copy of a table has finished, an update for a v2-only trace, observation or
score merges over the v2 row, so the ClickHouse row keeps every v2 field the update did not change
(and, written with a newer event_ts, wins over the copy when it arrives).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from psycopg.types.json import Jsonb

from langfuse_aio.migrations.background.copy_to_clickhouse import SCRIPTS
from langfuse_aio.runtime.resources import Resources
from langfuse_aio.services.legacy_baseline import LegacyBaseline
from langfuse_aio.services.processing import IngestionProcessor
from langfuse_aio.storage.clickhouse.repositories import fetch_current_rows
from tests.factories import make_project
from tests.support.processing import open_processor, process_request

pytestmark = pytest.mark.integration


@pytest.fixture
async def processor(resources: Resources) -> AsyncIterator[IngestionProcessor]:
    async with open_processor(resources) as processor:
        yield processor


@pytest.fixture
async def copies_failed(resources: Resources) -> AsyncIterator[None]:
    """The three copies marked failed (not finished, and never picked up by a running manager)."""
    async with resources.pg.connection() as conn:
        cur = await conn.execute("SELECT script, finished_at, failed_at, failed_reason FROM background_migrations "
                                 "WHERE script = ANY(%s)", (list(SCRIPTS.values()),))
        saved = await cur.fetchall()
        await conn.execute("UPDATE background_migrations SET finished_at = NULL, failed_at = now(), "
                           "failed_reason = 'test: copy not done' WHERE script = ANY(%s)", (list(SCRIPTS.values()),))
    yield
    async with resources.pg.connection() as conn:
        for script, finished_at, failed_at, reason in saved:
            await conn.execute("UPDATE background_migrations SET finished_at = %s, failed_at = %s, failed_reason = %s "
                               "WHERE script = %s", (finished_at, failed_at, reason, script))


async def insert_v2_rows(resources: Resources, project_id: str, trace_id: str, obs_id: str) -> None:
    async with resources.pg.connection() as conn:
        await conn.execute(
            "INSERT INTO traces (id, timestamp, name, project_id, metadata, user_id, release, input, session_id, tags) "
            "VALUES (%s, '2024-06-01 10:00:00', 'v2 name', %s, %s, 'user-v2', 'r1', %s, 'sess-v2', %s)",
            (trace_id, project_id, Jsonb({"origin": "v2"}), Jsonb({"q": "from v2"}), ["v2"]))
        await conn.execute(
            "INSERT INTO observations (id, name, start_time, type, trace_id, project_id, model, input, "
            "prompt_tokens, completion_tokens, total_tokens, unit, calculated_total_cost) "
            "VALUES (%s, 'llm', '2024-06-01 10:00:01', 'GENERATION', %s, %s, 'gpt-4', %s, 100, 10, 110, 'TOKENS', %s)",
            (obs_id, trace_id, project_id, Jsonb([{"role": "user", "content": "hi"}]), Decimal("0.0036")))



def event(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "type": kind, "timestamp": "2026-12-05T10:00:00.000Z", "body": body}


async def test_an_update_of_a_v2_only_trace_and_generation_keeps_the_v2_fields(
    resources: Resources, processor: IngestionProcessor, copies_failed: None
) -> None:
    project = await make_project(resources)
    trace_id, obs_id = f"v2t-{uuid.uuid4().hex}", f"v2o-{uuid.uuid4().hex}"
    await insert_v2_rows(resources, project.id, trace_id, obs_id)

    await process_request(resources, processor, project.id, [
        event("trace-create", {"id": trace_id, "output": "live output"}),
        event("generation-update", {"id": obs_id, "traceId": trace_id, "output": {"text": "live"}}),
    ])

    trace = (await fetch_current_rows(resources.clickhouse, "traces", project.id, [trace_id]))[trace_id]
    assert (trace["name"], trace["user_id"], trace["release"], trace["session_id"]) == (
        "v2 name", "user-v2", "r1", "sess-v2")
    assert trace["tags"] == ["v2"] and trace["metadata"]["origin"] == "v2"
    assert "from v2" in trace["input"] and trace["output"] == "live output"
    assert trace["timestamp"] == datetime(2024, 6, 1, 10, 0, tzinfo=UTC)
    obs = (await fetch_current_rows(resources.clickhouse, "observations", project.id, [obs_id]))[obs_id]
    assert (obs["type"], obs["name"], obs["provided_model_name"]) == ("GENERATION", "llm", "gpt-4")
    assert obs["usage_details"]["input"] == 100 and obs["usage_details"]["output"] == 10
    assert "live" in obs["output"] and "hi" in obs["input"]
    assert obs["start_time"] == datetime(2024, 6, 1, 10, 0, 1, tzinfo=UTC)


async def test_v2_rows_are_a_baseline_only_while_their_copy_is_pending(
    resources: Resources, copies_failed: None
) -> None:
    project, other = await make_project(resources), await make_project(resources)
    trace_id, obs_id = f"v2t-{uuid.uuid4().hex}", f"v2o-{uuid.uuid4().hex}"
    await insert_v2_rows(resources, project.id, trace_id, obs_id)

    pending = await LegacyBaseline(resources.pg).rows(project.id, {"traces": [trace_id, "absent"]})
    assert list(pending["traces"]) == [trace_id]
    assert await LegacyBaseline(resources.pg).rows(other.id, {"traces": [trace_id]}) == {}  # isolation

    async with resources.pg.connection() as conn:
        await conn.execute("UPDATE background_migrations SET finished_at = now() WHERE script = %s",
                           (SCRIPTS["traces"],))
    assert await LegacyBaseline(resources.pg).rows(project.id, {"traces": [trace_id]}) == {}
    both = await LegacyBaseline(resources.pg).rows(project.id, {"traces": [trace_id],
                                                                        "observations": [obs_id]})
    assert list(both) == ["observations"]
