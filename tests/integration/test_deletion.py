"""Deletion: DELETE /api/public/traces[/{id}] and project deletion, through the real stores and worker."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from arq.worker import Worker
from quart.typing import TestClientProtocol as Client

from langfuse_aio.domain.apikeys import fast_hash
from langfuse_aio.domain.blob_keys import entity_prefix, project_prefix
from langfuse_aio.jobs import definitions
from langfuse_aio.jobs.deletion import deletion_backoff_seconds
from langfuse_aio.runtime.resources import Resources
from langfuse_aio.services.auth import CACHE_PREFIX, ApiKeyAuth
from langfuse_aio.services.ingestion import IngestionProducer
from langfuse_aio.services.project_deletion import (
    ProjectDataDeleter,
    ProjectNotFoundError,
    request_files_prefix,
    revoke_project,
)
from langfuse_aio.services.trace_deletion import TraceDeleter
from langfuse_aio.storage.clickhouse.deletion_queries import count_project_rows
from langfuse_aio.storage.redis.locks import EntityLocks
from langfuse_aio.web.app import create_app
from tests.factories import TestProject
from tests.support.http import api_get as get
from tests.support.openapi import assert_valid_response
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

DELETION_SECONDS = 10.0  # the README promises "within seconds"; an idle worker needs well under one
TABLES = ("traces", "observations", "scores")


def _event(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "type": kind, "timestamp": datetime.now(UTC).isoformat(), "body": body}


def trace_batch(trace_id: str, *, observations: int = 2) -> tuple[list[dict[str, Any]], list[str], str]:
    obs_ids = [f"{trace_id}-obs-{n}" for n in range(observations)]
    score_id = f"{trace_id}-score"
    batch = [_event("trace-create", {"id": trace_id, "name": "original", "userId": "u-1",
                                     "input": {"q": "secret"}, "metadata": {"k": "v"}})]
    batch += [_event("span-create", {"id": o, "traceId": trace_id, "name": f"span {o}"}) for o in obs_ids]
    batch.append(_event("score-create", {"id": score_id, "traceId": trace_id, "name": "quality", "value": 1}))
    return batch, obs_ids, score_id


async def ingest(client: Client, project: TestProject, batch: list[dict[str, Any]]) -> None:
    response = await client.post("/api/public/ingestion", json={"batch": batch}, headers=project.basic)
    body = await response.get_json()
    assert response.status_code == 207 and body["errors"] == [], body




async def seed_trace(client: Client, project: TestProject, trace_id: str) -> tuple[list[str], str]:
    batch, obs_ids, score_id = trace_batch(trace_id)
    await ingest(client, project, batch)

    async def ready() -> bool:
        status, body = await get(client, project, f"/api/public/traces/{trace_id}")
        return status == 200 and len(body["observations"]) == len(obs_ids) and len(body["scores"]) == 1

    await eventually(ready, what=f"trace {trace_id} ingested")
    return obs_ids, score_id


async def gone(client: Client, project: TestProject, trace_id: str, obs_ids: list[str], score_id: str) -> bool:
    paths = [f"/api/public/traces/{trace_id}", f"/api/public/scores/{score_id}",
             *(f"/api/public/observations/{o}" for o in obs_ids)]
    statuses = [(await get(client, project, p))[0] for p in paths]
    return all(s == 404 for s in statuses)


async def entity_files(res: Resources, project_id: str, entities: list[tuple[str, str]]) -> list[str]:
    prefix = res.settings.s3.prefix
    return [k for t, i in entities for k in await res.blob.list(entity_prefix(prefix, project_id, t, i))]


async def test_trace_delete_removes_trace_observations_scores_and_files(
    client: Client, project: TestProject, resources: Resources, worker: Worker
) -> None:
    doomed, kept = f"del-{uuid.uuid4().hex[:8]}", f"keep-{uuid.uuid4().hex[:8]}"
    obs_ids, score_id = await seed_trace(client, project, doomed)
    kept_obs, kept_score = await seed_trace(client, project, kept)
    entities = [("trace", doomed), ("score", score_id), *(("observation", o) for o in obs_ids)]
    assert len(await entity_files(resources, project.id, entities)) == len(entities)

    response = await client.delete(f"/api/public/traces/{doomed}", headers=project.basic)
    body = await response.get_json()
    assert response.status_code == 200 and body == {"message": "Trace deleted successfully"}
    await eventually(lambda: gone(client, project, doomed, obs_ids, score_id), timeout=DELETION_SECONDS,
                     what="trace, observations and score gone")
    assert_valid_response(body, "/api/public/traces/{traceId}", "delete", spec="openapi-current.yml")
    for path in (f"/api/public/observations?traceId={doomed}", f"/api/public/v2/scores?traceId={doomed}"):
        status, listed = await get(client, project, path)
        assert status == 200 and listed["data"] == []
    status, traces = await get(client, project, "/api/public/traces?limit=100")
    assert doomed not in {t["id"] for t in traces["data"]} and kept in {t["id"] for t in traces["data"]}
    # no event file is left for a replay, and ClickHouse holds no version of any of them
    assert await entity_files(resources, project.id, entities) == []
    rows = await resources.clickhouse.query(
        "SELECT count() AS n FROM observations WHERE project_id = {p:String} AND trace_id = {t:String}",
        {"p": project.id, "t": doomed})
    assert rows[0]["n"] == 0

    # the other trace is untouched
    status, other = await get(client, project, f"/api/public/traces/{kept}")
    assert status == 200 and other["input"] == {"q": "secret"}
    assert sorted(o["id"] for o in other["observations"]) == sorted(kept_obs)
    assert [s["id"] for s in other["scores"]] == [kept_score]


async def test_late_event_creates_a_new_trace_from_the_late_events_only(
    client: Client, project: TestProject, worker: Worker
) -> None:
    trace_id = f"late-{uuid.uuid4().hex[:8]}"
    obs_ids, score_id = await seed_trace(client, project, trace_id)
    assert (await client.delete(f"/api/public/traces/{trace_id}", headers=project.basic)).status_code == 200
    await eventually(lambda: gone(client, project, trace_id, obs_ids, score_id), timeout=DELETION_SECONDS,
                     what="trace gone")

    await ingest(client, project, [_event("trace-create", {"id": trace_id, "name": "reborn"})])

    async def reborn() -> dict[str, Any] | None:
        status, body = await get(client, project, f"/api/public/traces/{trace_id}")
        return body if status == 200 else None

    trace = await eventually(reborn, what="late trace visible")
    assert trace["name"] == "reborn"
    assert trace["userId"] is None and trace["input"] is None and trace["metadata"] in ({}, None)
    assert trace["observations"] == [] and trace["scores"] == []


async def test_bulk_delete_is_strict_and_deletes_only_the_listed_traces(
    client: Client, project: TestProject, worker: Worker
) -> None:
    ids = [f"bulk-{n}-{uuid.uuid4().hex[:6]}" for n in range(3)]
    seeded = [await seed_trace(client, project, t) for t in ids]
    for bad in ({}, {"traceIds": []}, {"traceIds": "x"}, {"traceIds": [1]}, {"traceIds": ["a"], "extra": 1},
                {"traceIds": [f"t{n}" for n in range(1001)]}, ["a"]):
        response = await client.delete("/api/public/traces", json=bad, headers=project.basic)
        assert response.status_code == 400, bad
        assert (await response.get_json())["message"].startswith("Invalid request data")

    response = await client.delete("/api/public/traces", json={"traceIds": ids[:2]}, headers=project.basic)
    body = await response.get_json()
    assert response.status_code == 200 and body == {"message": "Traces deleted successfully"}
    assert_valid_response(body, "/api/public/traces", "delete", spec="openapi-current.yml")
    for trace_id, (obs_ids, score_id) in zip(ids[:2], seeded[:2], strict=True):
        await eventually(lambda t=trace_id, o=obs_ids, s=score_id: gone(client, project, t, o, s),
                         timeout=DELETION_SECONDS, what=f"{trace_id} gone")
    status, survivor = await get(client, project, f"/api/public/traces/{ids[2]}")
    assert status == 200 and len(survivor["observations"]) == 2 and len(survivor["scores"]) == 1


async def test_deletes_need_basic_auth(client: Client, project: TestProject) -> None:
    assert (await client.delete("/api/public/traces/x")).status_code == 401
    assert (await client.delete("/api/public/traces/x", headers=project.bearer)).status_code == 401


async def test_repeated_and_concurrent_deletes_are_harmless(
    client: Client, project: TestProject, resources: Resources, worker: Worker
) -> None:
    trace_id = f"conc-{uuid.uuid4().hex[:8]}"
    obs_ids, score_id = await seed_trace(client, project, trace_id)
    responses = await asyncio.gather(
        *(client.delete(f"/api/public/traces/{trace_id}", headers=project.basic) for _ in range(4)))
    assert [r.status_code for r in responses] == [200] * 4
    deleter = TraceDeleter(ch=resources.clickhouse, blob=resources.blob, locks=EntityLocks(resources.redis),
                           prefix=resources.settings.s3.prefix)
    reports = await asyncio.gather(*(deleter.delete(project.id, [trace_id, trace_id]) for _ in range(3)))
    assert all(r.traces == 1 for r in reports)  # ran to the end, whoever got there first
    await eventually(lambda: gone(client, project, trace_id, obs_ids, score_id), timeout=DELETION_SECONDS,
                     what="trace gone")
    again = await deleter.delete(project.id, [trace_id])  # nothing left: a no-op
    assert (again.observations, again.scores, again.event_files) == (0, 0, 0)


async def _job_result(res: Resources, function: str, args: list[Any]) -> Any:
    for result in await res.redis.all_job_results():
        if result.function == function and list(result.args) == args:
            return result
    return None


async def test_a_key_of_another_project_cannot_delete_this_projects_trace(
    client: Client, project: TestProject, other_project: TestProject, resources: Resources, worker: Worker
) -> None:
    trace_id = f"foreign-{uuid.uuid4().hex[:8]}"
    await seed_trace(client, project, trace_id)
    response = await client.delete(f"/api/public/traces/{trace_id}", headers=other_project.basic)
    assert response.status_code == 200  # a no-op: the answer never reveals whether an id exists
    result = await eventually(
        lambda: _job_result(resources, definitions.DELETE_TRACES, [other_project.id, [trace_id]]),
        timeout=DELETION_SECONDS, what="foreign deletion job finished")
    assert result.success and result.result["traces"] == 1 and result.result["observations"] == 0
    status, body = await get(client, project, f"/api/public/traces/{trace_id}")
    assert status == 200 and len(body["observations"]) == 2 and len(body["scores"]) == 1


async def test_revoked_key_gets_401_within_a_second_with_the_key_cache_on(
    resources: Resources, project: TestProject
) -> None:
    cached = ApiKeyAuth(resources.pg, resources.redis, salt=resources.salt, cache_enabled=True, cache_ttl_seconds=120)
    app = create_app(dataclasses.replace(resources, auth=cached))
    client = app.test_client()
    assert (await client.get("/api/public/traces", headers=project.basic)).status_code == 200
    assert await resources.redis.exists(CACHE_PREFIX + fast_hash(project.secret_key, resources.salt))  # cached

    # as `langfuse-aio projects delete` does it: from another process, whose auth object is not ours
    await revoke_project(resources.pg, resources.redis, project.id)
    revoked_at = time.monotonic()

    async def refused() -> bool:
        return (await client.get("/api/public/traces", headers=project.basic)).status_code == 401

    await eventually(refused, timeout=1.0, interval=0.02, what="401 for the revoked key")
    assert time.monotonic() - revoked_at < 1.0
    batch, _, _ = trace_batch("after-revoke")
    ingestion = await client.post("/api/public/ingestion", json={"batch": batch}, headers=project.basic)
    assert ingestion.status_code == 401
    async with resources.pg.connection() as conn:
        cur = await conn.execute("SELECT deleted_at IS NOT NULL FROM projects WHERE id = %s", (project.id,))
        assert await cur.fetchone() == (True,)
        cur = await conn.execute("SELECT count(*) FROM api_keys WHERE project_id = %s", (project.id,))
        assert await cur.fetchone() == (0,)
    again = await revoke_project(resources.pg, resources.redis, project.id, auth=cached)  # repeatable
    assert again.already_deleted and again.keys_deleted == 0
    with pytest.raises(ProjectNotFoundError):
        await revoke_project(resources.pg, resources.redis, "no-such-project")


async def test_revocation_in_the_serving_process_is_immediate(resources: Resources, project: TestProject) -> None:
    cached = ApiKeyAuth(resources.pg, resources.redis, salt=resources.salt, cache_enabled=True, cache_ttl_seconds=120)
    client = create_app(dataclasses.replace(resources, auth=cached)).test_client()
    assert (await client.get("/api/public/traces", headers=project.basic)).status_code == 200
    await revoke_project(resources.pg, resources.redis, project.id, auth=cached)
    assert (await client.get("/api/public/traces", headers=project.basic)).status_code == 401


async def _counts(res: Resources, project_id: str) -> dict[str, int]:
    return {t: await count_project_rows(res.clickhouse, t, project_id) for t in TABLES}


async def test_project_job_removes_every_row_and_keeps_other_projects(
    client: Client, project: TestProject, other_project: TestProject, resources: Resources, worker: Worker
) -> None:
    await seed_trace(client, project, "p-trace-1")
    await seed_trace(client, project, "p-trace-2")
    await seed_trace(client, other_project, "o-trace-1")
    other_before = await _counts(resources, other_project.id)
    assert all(n > 0 for n in (await _counts(resources, project.id)).values())

    await revoke_project(resources.pg, resources.redis, project.id)
    await resources.redis.enqueue_job(definitions.DELETE_PROJECT, project.id, _queue_name=definitions.QUEUE_NAME)

    async def emptied() -> bool:
        return all(n == 0 for n in (await _counts(resources, project.id)).values())

    await eventually(emptied, timeout=DELETION_SECONDS, what="project rows gone")
    assert await _counts(resources, other_project.id) == other_before
    status, body = await get(client, other_project, "/api/public/traces/o-trace-1")
    assert status == 200 and len(body["observations"]) == 2
    # blob files are kept by default
    assert await resources.blob.list(project_prefix(resources.settings.s3.prefix, project.id))
    # a second run (a retry, or a repeated `projects delete`) is a no-op
    deleter = ProjectDataDeleter(ch=resources.clickhouse, blob=resources.blob, prefix=resources.settings.s3.prefix,
                                 delete_blobs=False)
    assert await deleter.delete(project.id) == {"traces": 0, "observations": 0, "scores": 0, "event_files": 0}


async def test_project_blobs_are_removed_only_when_configured(
    client: Client, project: TestProject, other_project: TestProject, resources: Resources, worker: Worker
) -> None:
    await seed_trace(client, project, "b-trace")
    await seed_trace(client, other_project, "b-trace")
    prefix = resources.settings.s3.prefix
    mine = (project_prefix(prefix, project.id), request_files_prefix(prefix, project.id))
    theirs = (project_prefix(prefix, other_project.id), request_files_prefix(prefix, other_project.id))
    assert all([await resources.blob.list(p) for p in (*mine, *theirs)])
    await revoke_project(resources.pg, resources.redis, project.id)
    deleter = ProjectDataDeleter(ch=resources.clickhouse, blob=resources.blob, prefix=prefix, delete_blobs=True)
    counts = await deleter.delete(project.id)
    assert counts["traces"] >= 1 and counts["event_files"] >= 5
    assert [await resources.blob.list(p) for p in mine] == [[], []]
    assert all([await resources.blob.list(p) for p in theirs])
    assert await _counts(resources, project.id) == dict.fromkeys(TABLES, 0)


def test_deletion_backoff_grows_and_is_capped() -> None:
    assert [deletion_backoff_seconds(n) for n in (1, 2, 3, 8, 30)] == [1.0, 2.0, 4.0, 120.0, 120.0]


async def test_a_job_queued_before_its_project_was_deleted_writes_nothing(
    project: TestProject, resources: Resources, worker: Worker
) -> None:
    producer = IngestionProducer(blob=resources.blob, redis=resources.redis, prefix=resources.settings.s3.prefix,
                                 delay_ms=1500)
    batch, _, _ = trace_batch("queued-before-delete")
    key = await producer.submit(project.id, batch)  # accepted while the project still existed
    await revoke_project(resources.pg, resources.redis, project.id)

    async def finished() -> Any:
        for result in await resources.redis.all_job_results():
            if result.function == definitions.PROCESS_INGESTION and list(result.args)[2:] == [key]:
                return result
        return None

    result = await eventually(finished, timeout=DELETION_SECONDS, what="the queued job ran")
    assert result.success and result.result == {"rows": 0, "deferred": 0, "failed": 0}
    assert await _counts(resources, project.id) == dict.fromkeys(TABLES, 0)
