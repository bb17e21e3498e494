"""GET /api/public/v2/scores[/{id}] and GET /api/public/v3/scores, checked against today's OpenAPI
document (tests/fixtures/openapi-current.yml)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from arq.worker import Worker
from quart.typing import TestClientProtocol as Client

from langfuse_aio.domain.api_views import format_datetime
from langfuse_aio.runtime.resources import Resources
from tests.factories import TestProject
from tests.integration.test_read_scores import ALL, get, seed
from tests.support import rows
from tests.support.openapi import assert_valid_response
from tests.support.rows import insert_each, ts
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

CURRENT = "openapi-current.yml"
V2, V3 = "/api/public/v2/scores", "/api/public/v3/scores"


async def seed_more(res: Resources, project_id: str) -> None:
    """seed() plus an observation score and a session score."""
    await seed(res, project_id)
    p = project_id
    await insert_each(
        res.clickhouse, "scores",
        rows.score(p, "s-obs", "t-1", observation_id="o-1", name="latency", value=3.0, timestamp=ts(50),
                   metadata={"user_id": "abc", "tier": "gold"}),
        rows.score(p, "s-sess", "", session_id="sess-1", name="csat", value=4.0, timestamp=ts(60)),
    )


async def v2(client: Client, project: TestProject, **params: Any) -> dict[str, Any]:
    status, body = await get(client, project, V2, **params)
    assert status == 200, body
    assert_valid_response(body, V2, spec=CURRENT)
    return body


async def test_v2_list_has_session_scores_and_trace_details(client: Client, project: TestProject,
                                                            resources: Resources) -> None:
    await seed_more(resources, project.id)
    body = await v2(client, project)
    by_id = {item["id"]: item for item in body["data"]}
    assert list(by_id) == ["s-sess", "s-obs", *ALL] and body["meta"]["totalItems"] == 7
    assert by_id["s-sess"]["traceId"] is None and by_id["s-sess"]["sessionId"] == "sess-1"
    assert by_id["s-sess"]["trace"] is None
    assert by_id["s-num"]["trace"] == {"userId": "u-1", "tags": ["a", "b"], "environment": "prod", "sessionId": None}
    assert by_id["s-obs"]["metadata"] == {"user_id": "abc", "tier": "gold"}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"traceId": "t-1"}, ["s-obs", "s-cat", "s-num"]),
        ({"sessionId": "sess-1"}, ["s-sess"]),
        ({"observationId": "o-1,o-2"}, ["s-obs"]),
        ({"userId": "u-2"}, ["s-low", "s-bool"]),
        ({"operator": ">", "value": "2"}, ["s-sess", "s-obs"]),
        ({"filter": json.dumps([{"type": "stringObject", "column": "metadata", "key": "user_id", "operator": "=",
                                 "value": "abc"}])}, ["s-obs"]),
        ({"filter": json.dumps([{"type": "stringObject", "column": "metadata", "key": "tier",
                                 "operator": "starts with", "value": "go"}])}, ["s-obs"]),
        ({"datasetRunId": "run-1"}, []),
    ],
    ids=["traceId", "sessionId", "observationId", "userId", "operator", "metadata=", "metadata-starts", "run"],
)
async def test_v2_filters(client: Client, project: TestProject, resources: Resources,
                          params: dict[str, str], expected: list[str]) -> None:
    await seed_more(resources, project.id)
    assert [item["id"] for item in (await v2(client, project, **params))["data"]] == expected


async def test_v2_fields_score_leaves_the_trace_out(client: Client, project: TestProject,
                                                   resources: Resources) -> None:
    await seed(resources, project.id)
    body = await v2(client, project, fields="score")
    assert all("trace" not in item for item in body["data"])
    status, error = await get(client, project, V2, fields="score", userId="u-1")
    assert status == 400 and error["error"][0]["path"] == ["fields"]


async def test_v2_get_one(client: Client, project: TestProject, resources: Resources) -> None:
    await seed_more(resources, project.id)
    status, body = await get(client, project, f"{V2}/s-sess")
    assert status == 200
    assert_valid_response(body, f"{V2}/{{scoreId}}", spec=CURRENT)
    assert body["sessionId"] == "sess-1" and body["traceId"] is None and body["value"] == 4.0
    assert (await get(client, project, f"{V2}/nope"))[0] == 404


async def v3(client: Client, project: TestProject, **params: Any) -> dict[str, Any]:
    status, body = await get(client, project, V3, **params)
    assert status == 200, body
    assert_valid_response(body, V3, spec=CURRENT)
    return body


async def test_v3_values_are_typed_by_data_type(client: Client, project: TestProject, resources: Resources) -> None:
    await seed_more(resources, project.id)
    body = await v3(client, project, fields="details,subject,annotation")
    by_id = {item["id"]: item for item in body["data"]}
    assert body["meta"] == {"limit": 50}
    assert by_id["s-num"]["value"] == 0.9 and by_id["s-bool"]["value"] is True
    assert by_id["s-cat"]["value"] == "polite" and by_id["s-cat"]["queueId"] == "q-1"
    assert by_id["s-num"]["configId"] == "cfg-1" and by_id["s-num"]["comment"] == "fine"
    assert by_id["s-obs"]["subject"] == {"kind": "observation", "id": "o-1", "traceId": "t-1"}
    assert by_id["s-sess"]["subject"] == {"kind": "session", "id": "sess-1"}
    assert by_id["s-num"]["subject"] == {"kind": "trace", "id": "t-1"}
    core = await v3(client, project)
    assert set(core["data"][0]) == {"id", "projectId", "name", "dataType", "value", "source", "timestamp",
                                    "environment", "createdAt", "updatedAt"}


async def test_v3_cursor_walks_every_score_once(client: Client, project: TestProject, resources: Resources) -> None:
    await seed_more(resources, project.id)
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": "3"} | ({"cursor": cursor} if cursor else {})
        body = await v3(client, project, **params)
        seen += [item["id"] for item in body["data"]]
        pages += 1
        cursor = body["meta"].get("cursor")
        if cursor is None:
            break
    assert seen == ["s-sess", "s-obs", *ALL] and pages == 3


async def test_v3_cursor_breaks_timestamp_ties_by_id(client: Client, project: TestProject,
                                                     resources: Resources) -> None:
    await insert_each(resources.clickhouse, "scores", *(rows.score(project.id, f"tie-{i}", "t") for i in range(5)))
    first = await v3(client, project, limit="2")
    second = await v3(client, project, limit="2", cursor=first["meta"]["cursor"])
    third = await v3(client, project, limit="2", cursor=second["meta"]["cursor"])
    ids = [item["id"] for body in (first, second, third) for item in body["data"]]
    assert ids == ["tie-4", "tie-3", "tie-2", "tie-1", "tie-0"] and "cursor" not in third["meta"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"traceId": "t-1", "observationId": "o-1"}, ["s-obs"]),
        ({"name": "accuracy,tone"}, ["s-orphan", "s-low", "s-cat", "s-num"]),
        ({"source": "eval,annotation"}, ["s-bool", "s-cat"]),
        ({"dataType": "numeric", "value": "0.9,0.2"}, ["s-low", "s-num"]),
        ({"dataType": "BOOLEAN", "value": "true"}, ["s-bool"]),
        ({"dataType": "CATEGORICAL", "value": "polite"}, ["s-cat"]),
        ({"dataType": "NUMERIC", "valueMin": "0.5", "valueMax": "3"}, ["s-obs", "s-orphan", "s-num"]),
        ({"authorUserId": "me"}, ["s-cat"]),
        ({"environment": "prod"}, ["s-cat", "s-num"]),
        ({"id": "s-num,s-sess"}, ["s-sess", "s-num"]),
        ({"fromTimestamp": format_datetime(ts(40)), "toTimestamp": format_datetime(ts(60))}, ["s-obs", "s-orphan"]),
        ({"experimentId": "exp-1"}, []),
    ],
    ids=lambda v: "-".join(v) if isinstance(v, dict) else "",
)
async def test_v3_filters(client: Client, project: TestProject, resources: Resources,
                          params: dict[str, str], expected: list[str]) -> None:
    await seed_more(resources, project.id)
    assert [item["id"] for item in (await v3(client, project, **params))["data"]] == expected


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"observationId": "o-1"}, "observationId"),
        ({"traceId": "t-1", "sessionId": "s"}, "sessionId"),
        ({"value": "1"}, "value"),
        ({"dataType": "NUMERIC,BOOLEAN", "value": "1"}, "value"),
        ({"dataType": "BOOLEAN", "value": "yes"}, "value"),
        ({"dataType": "CATEGORICAL", "valueMin": "1"}, "valueMin"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"fields": "everything"}, "fields"),
        ({"limit": "101"}, "limit"),
        ({"dataType": "FLOAT"}, "dataType"),
    ],
)
async def test_v3_bad_parameters_are_400_naming_them(client: Client, project: TestProject,
                                                     params: dict[str, str], parameter: str) -> None:
    status, body = await get(client, project, V3, **params)
    assert status == 400 and body["error"][0]["path"] == [parameter]


async def test_v3_lists_what_the_v5_sdk_posted_for_its_trace(client: Client, project: TestProject,
                                                             worker: Worker) -> None:
    scores = [{"id": "v5-a", "traceId": "v5-trace", "name": "correct", "value": 1.0, "dataType": "BOOLEAN"},
              {"id": "v5-b", "traceId": "v5-trace", "name": "label", "value": "good"},
              {"id": "v5-c", "traceId": "other-trace", "name": "n", "value": 0.3}]
    response = await client.post("/api/public/scores", json=scores, headers=project.basic)
    assert response.status_code == 202

    async def listed() -> dict[str, Any] | None:
        body = await v3(client, project, traceId="v5-trace")
        return body if len(body["data"]) == 2 else None

    body = await eventually(listed, what="the trace's scores")
    assert {item["id"]: item["value"] for item in body["data"]} == {"v5-a": True, "v5-b": "good"}


@pytest.mark.parametrize("path", [V2, f"{V2}/s-num", V3])
async def test_v2_v3_another_projects_key_reads_nothing(client: Client, project: TestProject,
                                                        other_project: TestProject, resources: Resources,
                                                        path: str) -> None:
    await seed(resources, project.id)
    status, body = await get(client, other_project, path)
    if path.endswith("s-num"):
        assert status == 404
    else:
        assert status == 200 and body["data"] == []


@pytest.mark.parametrize("path", [V2, f"{V2}/s-num", V3])
async def test_v2_v3_bearer_public_key_is_401(client: Client, project: TestProject, path: str) -> None:
    assert (await client.get(path, headers=project.bearer)).status_code == 401
