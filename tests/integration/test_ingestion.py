"""POST /api/public/ingestion end to end: recorded SDK batches in, merged rows out."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from arq.worker import Worker
from quart.typing import TestClientProtocol as Client

from langfuse_aio.runtime.resources import Resources
from tests.conftest import STORES
from tests.factories import TestProject
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "sdk-samples"


def sample(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((SAMPLES / name).read_text())["body"]
    return body


async def post(client: Client, project: TestProject, body: object) -> tuple[int, Any]:
    response = await client.post("/api/public/ingestion", json=body, headers=project.basic)
    return response.status_code, await response.get_json()


async def trace_when(client: Client, project: TestProject, trace_id: str, ready: Any) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        response = await client.get(f"/api/public/traces/{trace_id}", headers=project.basic)
        if response.status_code != 200:
            return None
        body: dict[str, Any] = await response.get_json()
        return body if ready(body) else None

    return await eventually(check, what=f"trace {trace_id}")


def by_id(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["id"]: item for item in items}


async def test_python_sdk_batch_reads_back_field_by_field(
    client: Client, project: TestProject, worker: Worker
) -> None:
    status, body = await post(client, project, sample("py-v2.60.10-ingestion-batch1.json"))
    assert status == 207 and len(body["successes"]) == 11 and body["errors"] == []

    trace = await trace_when(client, project, "v2-trace-0001",
                             lambda t: len(t["observations"]) == 4 and len(t["scores"]) == 3 and t["output"])
    assert trace["name"] == "probe-trace" and trace["userId"] == "user-42" and trace["sessionId"] == "sess-7"
    assert trace["input"] == {"question": "What is 2+2?"} and trace["output"] == {"answer": "4"}
    assert trace["release"] == "r1" and trace["version"] == "v1"
    assert trace["metadata"] == {"env": "probe", "n": 1, "extra": True}
    assert trace["tags"] == ["t1", "t2"]
    assert trace["timestamp"] == "2026-11-28T14:48:27.612Z"

    observations = by_id(trace["observations"])
    span = observations["387d900f-ee7c-42c1-8940-8733490ed48c"]
    assert span["type"] == "SPAN" and span["name"] == "retrieve" and span["output"] == {"docs": ["a", "b"]}
    assert span["endTime"] == "2026-11-28T14:48:27.618Z"
    generation = observations["64e6b870-bba4-4e06-bb34-221db8851a7b"]
    assert generation["type"] == "GENERATION" and generation["model"] == "gpt-4o"
    assert generation["parentObservationId"] == span["id"]
    assert generation["output"] == {"role": "assistant", "content": "4"}
    assert generation["usageDetails"] == {"input": 12, "output": 3, "total": 15}
    assert generation["costDetails"]["input"] == pytest.approx(0.0001)
    assert generation["costDetails"]["total"] == pytest.approx(0.0003)
    assert generation["modelParameters"] == {"temperature": "0.2", "max_tokens": 50}
    legacy = observations["89bd6edc-28ce-4f7e-8b9b-429af14b2384"]
    assert legacy["usageDetails"] == {"input": 5, "output": 7, "total": 12}
    assert legacy["input"] == "hi" and legacy["output"] == "hello"
    event = observations["acc0d5b3-9866-422e-a616-5e450352f7f6"]
    assert event["type"] == "EVENT" and event["level"] == "DEBUG"

    scores = {s["name"]: s for s in trace["scores"]}
    assert scores["quality"]["value"] == 0.9 and scores["quality"]["comment"] == "good"
    assert scores["correct"]["dataType"] == "BOOLEAN" and scores["correct"]["stringValue"] == "True"
    assert scores["category"]["dataType"] == "CATEGORICAL" and scores["category"]["stringValue"] == "math"


async def test_js_batch_with_update_before_create_merges(client: Client, project: TestProject, worker: Worker) -> None:
    status, body = await post(client, project, sample("js-langfuse-3.39.2-ingestion-batch.json"))
    assert status == 207 and body["errors"] == []
    trace = await trace_when(client, project, "js-trace-0001",
                             lambda t: len(t["observations"]) == 4 and len(t["scores"]) == 2)
    generation = by_id(trace["observations"])["4098da20-b19c-46c5-823a-b098a1508c55"]
    # The update came first in the batch; the create's fields and the update's both survive.
    assert generation["name"] == "llm-call" and generation["model"] == "gpt-4o"
    assert generation["output"] == {"role": "assistant", "content": "4"}
    assert generation["startTime"] == "2026-11-28T14:49:58.670Z"
    assert generation["environment"] == "probe-env" and trace["environment"] == "probe-env"
    assert by_id(trace["observations"])["398b9988-99d4-477a-aecc-9f78e5f9ebaa"]["usageDetails"] == {
        "input": 5, "output": 7, "total": 12}


async def test_observe_decorator_batch(client: Client, project: TestProject, worker: Worker) -> None:
    status, body = await post(client, project, sample("py-v2.60.10-ingestion-batch2-observe-decorator.json"))
    assert status == 207 and body["errors"] == []
    trace_id = "1cce7227-0094-4017-8664-8f4d6218b3ee"
    trace = await trace_when(client, project, trace_id, lambda t: len(t["observations"]) == 2 and t["scores"])
    assert trace["name"] == "decorated-root" and trace["output"] == 42 and trace["userId"] == "user-deco"
    inner = by_id(trace["observations"])["ba1b6ee0-57fa-473c-8270-034779381abe"]
    assert inner["output"] == 42 and inner["metadata"] == {"inner": True}


async def test_update_in_an_earlier_request_than_its_create(
    client: Client, project: TestProject, worker: Worker
) -> None:
    batch = sample("py-v2.60.10-ingestion-batch1.json")["batch"]
    updates = [e for e in batch if e["type"].endswith("-update")]
    creates = [e for e in batch if not e["type"].endswith("-update")]
    assert (await post(client, project, {"batch": updates}))[0] == 207
    assert (await post(client, project, {"batch": creates}))[0] == 207
    trace = await trace_when(
        client, project, "v2-trace-0001",
        lambda t: len(t["observations"]) == 4 and all(o["name"] for o in t["observations"])
        and any(o["output"] == {"docs": ["a", "b"]} for o in t["observations"]))
    span = by_id(trace["observations"])["387d900f-ee7c-42c1-8940-8733490ed48c"]
    assert span["startTime"] == "2026-11-28T14:48:27.613Z" and span["traceId"] == "v2-trace-0001"


async def test_the_same_events_twice_make_one_row_each(
    client: Client, project: TestProject, worker: Worker, resources: Resources
) -> None:
    body = sample("py-v2.60.10-ingestion-batch1.json")
    for _ in range(2):
        assert (await post(client, project, body))[0] == 207
    # A third delivery of one event, alone, in its own request.
    assert (await post(client, project, {"batch": [copy.deepcopy(body["batch"][1])]}))[0] == 207
    await trace_when(client, project, "v2-trace-0001", lambda t: len(t["observations"]) == 4)

    async def single_versions() -> bool | None:
        rows = await resources.clickhouse.query(
            "SELECT id, count() AS n FROM observations FINAL WHERE project_id = {p:String} AND is_deleted = 0 "
            "GROUP BY id", {"p": project.id})
        return (len(rows) == 4 and all(r["n"] == 1 for r in rows)) or None

    await eventually(single_versions, what="one row per observation")


async def test_bad_input_gets_4xx_and_valid_events_are_still_accepted(
    client: Client, project: TestProject, worker: Worker
) -> None:
    good = {"id": "e-good", "type": "trace-create", "timestamp": "2026-11-28T10:00:00Z",
            "body": {"id": "mixed-trace", "name": "kept"}}
    batch = [
        good,
        {"id": "e1", "type": "trace-create", "timestamp": "yesterday", "body": {"id": "t"}},
        {"id": "e2", "type": "span-create", "timestamp": "2026-11-28T10:00:00Z", "body": {"traceId": "x"}},
        {"id": "e3", "type": "generation-create", "timestamp": "2026-11-28T10:00:00Z",
         "body": {"id": "g", "usage": {"input": "many"}}},
        {"id": "e4", "type": "no-such-type", "timestamp": "2026-11-28T10:00:00Z", "body": {}},
        "not an object",
        {"type": "trace-create", "timestamp": "2026-11-28T10:00:00Z", "body": {"id": "t"}},
    ]
    status, body = await post(client, project, {"batch": batch})
    assert status == 207
    assert [s["id"] for s in body["successes"]] == ["e-good"]
    assert [e["id"] for e in body["errors"]] == ["e1", "e2", "e3", "e4", "unknown", "unknown"]
    assert all(e["status"] == 400 and e["message"] == "Invalid request data" and e["error"] for e in body["errors"])
    trace = await trace_when(client, project, "mixed-trace", lambda t: True)
    assert trace["name"] == "kept"


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        (b"{not json", "application/json"),
        (b'{"batch": [{"id": "\xff\xfe"}]}', "application/json"),
        (b'{"batch": NaN}', "application/json"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json"),
        (b'{"batch": {"id": 1}}', "application/json"),
        (b"", "application/json"),
    ],
    ids=["invalid-json", "invalid-utf8", "nan", "too-deep", "batch-not-array", "empty"],
)
async def test_malformed_bodies_are_400(client: Client, project: TestProject, raw: bytes, content_type: str) -> None:
    response = await client.post("/api/public/ingestion", data=raw,
                                 headers={**project.basic, "Content-Type": content_type})
    assert response.status_code == 400
    assert (await response.get_json())["message"]


async def test_oversized_body_is_413_before_auth(client: Client) -> None:
    response = await client.post("/api/public/ingestion", data=b"x" * 4_718_593,
                                 headers={"Content-Type": "application/json"})
    assert response.status_code == 413


async def test_deeply_nested_input_is_stored(client: Client, project: TestProject, worker: Worker) -> None:
    nested: Any = "leaf"
    for _ in range(200):
        nested = {"n": nested}
    event = {"id": "deep", "type": "trace-create", "timestamp": "2026-11-28T10:00:00Z",
             "body": {"id": "deep-trace", "input": nested}}
    status, body = await post(client, project, {"batch": [event]})
    assert status == 207 and body["errors"] == []
    trace = await trace_when(client, project, "deep-trace", lambda t: True)
    assert trace["input"] == nested


async def test_lone_surrogates_are_replaced_not_fatal(client: Client, project: TestProject, worker: Worker) -> None:
    raw = (b'{"batch": [{"id": "s", "type": "trace-create", "timestamp": "2026-11-28T10:00:00Z",'
           b' "body": {"id": "surrogate-trace", "name": "a\\ud800b"}}]}')
    response = await client.post("/api/public/ingestion", data=raw,
                                 headers={**project.basic, "Content-Type": "application/json"})
    assert response.status_code == 207
    trace = await trace_when(client, project, "surrogate-trace", lambda t: True)
    assert trace["name"] == "a\ufffdb"


@pytest.mark.skipif(STORES == "external", reason="moto's S3 takes ~160 PUTs/s: 10,000 entity files would take minutes")
async def test_ten_thousand_events_in_one_batch(client: Client, project: TestProject, worker: Worker) -> None:
    batch = [
        {"id": f"ev-{i}", "type": "span-create", "timestamp": "2026-11-28T10:00:00.000Z",
         "body": {"id": f"span-{i}", "traceId": "big-trace", "name": f"s{i}"}}
        for i in range(10_000)
    ]
    batch.append({"id": "ev-trace", "type": "trace-create", "timestamp": "2026-11-28T10:00:00Z",
                  "body": {"id": "big-trace", "name": "big"}})
    status, body = await post(client, project, {"batch": batch})
    assert status == 207 and len(body["successes"]) == 10_001 and body["errors"] == []
    await trace_when(client, project, "big-trace", lambda t: len(t["observations"]) == 10_000)


async def test_bearer_public_key_may_send_scores_only(client: Client, project: TestProject, worker: Worker) -> None:
    batch = [
        {"id": "b-score", "type": "score-create", "timestamp": "2026-11-28T10:00:00Z",
         "body": {"id": "bearer-score", "traceId": "bearer-trace", "name": "s", "value": 1}},
        {"id": "b-trace", "type": "trace-create", "timestamp": "2026-11-28T10:00:00Z",
         "body": {"id": "bearer-trace"}},
    ]
    response = await client.post("/api/public/ingestion", json={"batch": batch}, headers=project.bearer)
    body = await response.get_json()
    assert response.status_code == 207
    assert body["successes"] == [{"id": "b-score", "status": 201}]
    assert body["errors"] == [{"id": "b-trace", "status": 401, "message": "Authentication error",
                               "error": "Access Scope Denied"}]


async def test_ingestion_auth_errors_use_the_ingestion_body(client: Client) -> None:
    response = await client.post("/api/public/ingestion", json={"batch": []})
    assert response.status_code == 401
    assert await response.get_json() == {"error": "UnauthorizedError", "message": "No authorization header"}


async def test_underscore_and_dash_sdk_headers_are_both_fine(client: Client, project: TestProject) -> None:
    for headers in ({"x_langfuse_sdk_name": "python", "x_langfuse_sdk_version": "2.60.10"},
                    {"X-Langfuse-Sdk-Name": "langfuse-js", "X-Langfuse-Sdk-Version": "3.39.2"}, {}):
        response = await client.post("/api/public/ingestion", json={"batch": []},
                                     headers={**project.basic, **headers})
        assert response.status_code == 207


async def test_a_key_never_reads_another_projects_trace(
    client: Client, project: TestProject, other_project: TestProject, worker: Worker
) -> None:
    assert (await post(client, project, sample("py-v2.60.10-ingestion-batch1.json")))[0] == 207
    await trace_when(client, project, "v2-trace-0001", lambda t: True)
    response = await client.get("/api/public/traces/v2-trace-0001", headers=other_project.basic)
    assert response.status_code == 404
