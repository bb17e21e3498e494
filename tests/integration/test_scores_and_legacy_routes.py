"""POST /api/public/scores (single object and the v5 SDK's array) and the deprecated routes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from arq.worker import Worker
from quart.typing import TestClientProtocol as Client

from langfuse_aio.runtime.resources import Resources
from tests.factories import TestProject
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "sdk-samples"


async def trace(client: Client, project: TestProject, trace_id: str, ready: Any) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        response = await client.get(f"/api/public/traces/{trace_id}", headers=project.basic)
        body = await response.get_json() if response.status_code == 200 else None
        return body if body is not None and ready(body) else None

    return await eventually(check, what=f"trace {trace_id}")


async def test_single_score_returns_its_id_and_lands(client: Client, project: TestProject, worker: Worker) -> None:
    await client.post("/api/public/traces", json={"id": "scored", "name": "t"}, headers=project.basic)
    response = await client.post("/api/public/scores", headers=project.basic,
                                 json={"traceId": "scored", "name": "helpful", "value": 0.5, "comment": "ok"})
    assert response.status_code == 200
    score_id = (await response.get_json())["id"]
    body = await trace(client, project, "scored", lambda t: t["scores"])
    assert body["scores"][0]["id"] == score_id and body["scores"][0]["value"] == 0.5
    assert body["scores"][0]["source"] == "API"


async def test_v5_sdk_score_array_is_accepted(
    client: Client, project: TestProject, worker: Worker, resources: Resources
) -> None:
    items = json.loads((SAMPLES / "py-v5.0.4-scores-batch.json").read_text())["body"]
    response = await client.post("/api/public/scores", json=items, headers=project.basic)
    assert response.status_code == 202 and await response.get_json() == {"message": "Accepted"}

    async def stored() -> list[dict[str, Any]] | None:
        rows = await resources.clickhouse.query(
            "SELECT id, trace_id, session_id, name, value, string_value, data_type, environment FROM scores FINAL "
            "WHERE project_id = {p:String} ORDER BY id", {"p": project.id})
        return rows if len(rows) == len(items) else None

    rows = {r["id"]: r for r in await eventually(stored, what="v5 scores")}
    for item in items:
        row = rows[item["id"]]
        assert row["name"] == item["name"]
        if isinstance(item["value"], str):
            assert row["string_value"] == item["value"] and row["data_type"] == "CATEGORICAL"
        else:
            assert row["value"] == pytest.approx(float(item["value"]))
        assert row["environment"] == item.get("environment", "default")
        assert row["trace_id"] == (item.get("traceId") or "")
        assert row["session_id"] == item.get("sessionId")


async def test_score_array_with_a_bad_item_is_207(client: Client, project: TestProject) -> None:
    items = [{"traceId": "t", "name": "ok", "value": 1}, {"traceId": "t", "name": "", "value": 1}]
    response = await client.post("/api/public/scores", json=items, headers=project.basic)
    body = await response.get_json()
    assert response.status_code == 207 and body["accepted"] == 1 and body["rejected"] == 1
    assert "scores[1]" in body["errors"][0]["message"]


async def test_invalid_single_score_is_400(client: Client, project: TestProject) -> None:
    response = await client.post("/api/public/scores", headers=project.basic,
                                 json={"traceId": "t", "name": "x", "value": 3, "dataType": "CATEGORICAL"})
    assert response.status_code == 400
    assert (await response.get_json())["message"] == "Invalid request data"


async def test_scores_route_needs_the_secret_key(client: Client, project: TestProject) -> None:
    response = await client.post("/api/public/scores", headers=project.bearer,
                                 json={"traceId": "t", "name": "x", "value": 1})
    assert response.status_code == 401


async def test_deprecated_routes_take_the_same_path(client: Client, project: TestProject, worker: Worker) -> None:
    h = project.basic
    trace_id = (await (await client.post("/api/public/traces", json={"name": "legacy"}, headers=h)).get_json())["id"]
    span = await client.post("/api/public/spans", json={"traceId": trace_id, "name": "s"}, headers=h)
    span_id = (await span.get_json())["id"]
    await client.patch("/api/public/spans", json={"spanId": span_id, "output": "done"}, headers=h)
    gen = await client.post("/api/public/generations", headers=h,
                            json={"traceId": trace_id, "name": "g", "prompt": "hi", "model": "gpt-4o"})
    gen_id = (await gen.get_json())["id"]
    await client.patch("/api/public/generations", json={"generationId": gen_id, "completion": "hello"}, headers=h)
    event = await client.post("/api/public/events", json={"traceId": trace_id, "name": "e"}, headers=h)
    assert event.status_code == 200

    body = await trace(client, project, trace_id, lambda t: len(t["observations"]) == 3 and all(
        o["output"] for o in t["observations"] if o["type"] != "EVENT"))
    observations = {o["id"]: o for o in body["observations"]}
    assert observations[span_id]["output"] == "done"
    assert observations[gen_id]["input"] == "hi" and observations[gen_id]["output"] == "hello"


async def test_deprecated_patch_without_id_is_400(client: Client, project: TestProject) -> None:
    response = await client.patch("/api/public/generations", json={"completion": "x"}, headers=project.basic)
    assert response.status_code == 400
