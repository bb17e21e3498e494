"""GET /api/public/scores (v1) and GET/DELETE /api/public/scores/{id}, on rows seeded into ClickHouse
and on scores that came through the ingestion API and the worker."""

from __future__ import annotations

from typing import Any

import pytest
from arq.worker import Worker
from quart.typing import TestClientProtocol as Client

from langfuse_aio.domain.api_views import format_datetime
from langfuse_aio.domain.blob_keys import entity_prefix
from langfuse_aio.jobs import definitions
from langfuse_aio.runtime.resources import Resources
from tests.factories import TestProject
from tests.support import rows
from tests.support.openapi import assert_valid, assert_valid_response
from tests.support.rows import insert_each, ts
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

ALL = ["s-orphan", "s-low", "s-bool", "s-cat", "s-num"]  # timestamp desc


async def seed(res: Resources, project_id: str) -> None:
    p = project_id
    await insert_each(res.clickhouse, "traces",
                      rows.trace(p, "t-1", user_id="u-1", tags=["a", "b"], environment="prod"),
                      rows.trace(p, "t-2", user_id="u-2", tags=["a"]))
    await insert_each(
        res.clickhouse, "scores",
        rows.score(p, "s-num", "t-1", name="accuracy", value=0.9, timestamp=ts(0), environment="prod",
                   config_id="cfg-1", comment="fine"),
        rows.score(p, "s-cat", "t-1", name="tone", data_type="CATEGORICAL", string_value="polite", value=0.0,
                   timestamp=ts(10), source="ANNOTATION", queue_id="q-1", environment="prod", author_user_id="me"),
        rows.score(p, "s-bool", "t-2", name="correct", data_type="BOOLEAN", value=1.0, string_value="True",
                   timestamp=ts(20), source="EVAL"),
        rows.score(p, "s-low", "t-2", name="accuracy", value=0.2, timestamp=ts(30)),
        rows.score(p, "s-orphan", "t-missing", name="accuracy", value=0.5, timestamp=ts(40)),
    )


async def get(client: Client, project: TestProject, path: str, **params: Any) -> tuple[int, Any]:
    response = await client.get(path, query_string=params, headers=project.basic)
    return response.status_code, await response.get_json()


async def ids(client: Client, project: TestProject, **params: Any) -> list[str]:
    status, body = await get(client, project, "/api/public/scores", **params)
    assert status == 200, body
    assert_valid_response(body, "/api/public/scores")
    return [item["id"] for item in body["data"]]


async def test_list_items_are_scores_with_their_trace(client: Client, project: TestProject,
                                                      resources: Resources) -> None:
    await seed(resources, project.id)
    status, body = await get(client, project, "/api/public/scores")
    assert status == 200
    assert_valid_response(body, "/api/public/scores")
    by_id = {item["id"]: item for item in body["data"]}
    assert [item["id"] for item in body["data"]] == ALL
    assert by_id["s-num"]["trace"] == {"userId": "u-1", "tags": ["a", "b"], "environment": "prod"}
    assert by_id["s-num"]["value"] == 0.9 and by_id["s-num"]["comment"] == "fine"
    assert by_id["s-cat"]["stringValue"] == "polite" and by_id["s-cat"]["authorUserId"] == "me"
    assert by_id["s-bool"]["value"] == 1 and by_id["s-bool"]["stringValue"] == "True"
    assert body["meta"] == {"page": 1, "limit": 50, "totalItems": 5, "totalPages": 1}


async def test_score_whose_trace_row_is_missing_is_listed_unlike_v3_0_0_inner_join(
    client: Client, project: TestProject, resources: Resources
) -> None:
    await seed(resources, project.id)
    status, body = await get(client, project, "/api/public/scores", scoreIds="s-orphan")
    assert status == 200
    assert body["data"][0]["trace"] == {"userId": None, "tags": None, "environment": None}
    assert body["data"][0]["traceId"] == "t-missing"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"userId": "u-1"}, ["s-cat", "s-num"]),
        ({"name": "accuracy"}, ["s-orphan", "s-low", "s-num"]),
        ({"fromTimestamp": format_datetime(ts(20))}, ["s-orphan", "s-low", "s-bool"]),
        ({"toTimestamp": format_datetime(ts(20))}, ["s-cat", "s-num"]),
        ({"source": "EVAL"}, ["s-bool"]),
        ({"scoreIds": "s-num,s-bool"}, ["s-bool", "s-num"]),
        ({"configId": "cfg-1"}, ["s-num"]),
        ({"queueId": "q-1"}, ["s-cat"]),
        ({"dataType": "CATEGORICAL"}, ["s-cat"]),
        ({"traceTags": "a,b"}, ["s-cat", "s-num"]),
        ({"traceTags": "a"}, ["s-low", "s-bool", "s-cat", "s-num"]),
        ({"environment": "prod"}, ["s-cat", "s-num"]),
        ({"name": "accuracy", "userId": "u-2"}, ["s-low"]),
        ({"value": "0.5"}, ALL),  # value without operator is ignored, as in Langfuse
    ],
    ids=lambda v: "-".join(f"{k}={x}" for k, x in v.items()) if isinstance(v, dict) else "",
)
async def test_each_filter(client: Client, project: TestProject, resources: Resources,
                           params: dict[str, str], expected: list[str]) -> None:
    await seed(resources, project.id)
    assert await ids(client, project, **params) == expected


async def test_repeated_trace_tags_are_all_of(client: Client, project: TestProject, resources: Resources) -> None:
    await seed(resources, project.id)
    response = await client.get("/api/public/scores?traceTags=a&traceTags=b", headers=project.basic)
    assert [item["id"] for item in (await response.get_json())["data"]] == ["s-cat", "s-num"]


@pytest.mark.parametrize(
    ("operator", "expected"),
    [("<", ["s-low", "s-cat"]), (">", ["s-bool", "s-num"]), ("<=", ["s-orphan", "s-low", "s-cat"]),
     (">=", ["s-orphan", "s-bool", "s-num"]), ("!=", ["s-low", "s-bool", "s-cat", "s-num"]), ("=", ["s-orphan"])],
)
async def test_operator_and_value(client: Client, project: TestProject, resources: Resources,
                                  operator: str, expected: list[str]) -> None:
    await seed(resources, project.id)
    assert await ids(client, project, operator=operator, value="0.5") == expected


async def test_operator_applies_to_value_only_not_to_timestamps_unlike_v3_0_0_filter_builder(
    client: Client, project: TestProject, resources: Resources
) -> None:
    await seed(resources, project.id)
    # v3.0.0 turned toTimestamp into `timestamp >= T` here and answered ["s-orphan"]
    assert await ids(client, project, operator=">=", value="0.5", toTimestamp=format_datetime(ts(25))) == [
        "s-bool", "s-num"]


@pytest.mark.parametrize(
    ("params", "parameter"),
    [({"operator": "~", "value": "1"}, "operator"), ({"operator": ">", "value": "high"}, "value"),
     ({"limit": "101"}, "limit"), ({"page": "0"}, "page"), ({"fromTimestamp": "yesterday"}, "fromTimestamp"),
     ({"source": "HUMAN"}, "source"), ({"dataType": "TEXT"}, "dataType")],
)
async def test_bad_parameters_are_400_naming_them(client: Client, project: TestProject,
                                                  params: dict[str, str], parameter: str) -> None:
    status, body = await get(client, project, "/api/public/scores", **params)
    assert status == 400
    assert body["error"][0]["path"] == [parameter] and parameter in body["message"]


async def test_pagination_meta(client: Client, project: TestProject, resources: Resources) -> None:
    await seed(resources, project.id)
    seen = []
    for page in (1, 2, 3):
        status, body = await get(client, project, "/api/public/scores", limit="2", page=str(page))
        assert status == 200
        assert body["meta"] == {"page": page, "limit": 2, "totalItems": 5, "totalPages": 3}
        seen += [item["id"] for item in body["data"]]
    assert seen == ALL
    assert (await get(client, project, "/api/public/scores", limit="2", page="4"))[1]["data"] == []


async def test_total_counts_the_latest_live_version_of_each_score(
    client: Client, project: TestProject, resources: Resources
) -> None:
    p = project.id
    old = rows.score(p, "s-1", "t", name="before", value=0.1)
    gone = rows.score(p, "s-2", "t", name="before")
    await insert_each(resources.clickhouse, "scores", old, old | {"name": "after", "event_ts": ts(5)},
                      gone, rows.tombstone(gone, ts(5)), rows.score(p, "s-3", "t", name="before", timestamp=ts(1)))
    status, body = await get(client, project, "/api/public/scores")
    assert status == 200 and [item["id"] for item in body["data"]] == ["s-3", "s-1"]
    assert body["meta"]["totalItems"] == 2
    assert await ids(client, project, name="before") == ["s-3"]  # s-1's old version does not match


async def test_get_one_score(client: Client, project: TestProject, resources: Resources) -> None:
    await seed(resources, project.id)
    p = project.id
    await insert_each(resources.clickhouse, "scores", rows.score(p, "s-session", "", session_id="sess-1"))
    status, body = await get(client, project, "/api/public/scores/s-cat")
    assert status == 200
    assert_valid(body, "Score")
    assert body["id"] == "s-cat" and body["dataType"] == "CATEGORICAL" and body["traceId"] == "t-1"
    assert (await get(client, project, "/api/public/scores/nope"))[0] == 404
    assert (await get(client, project, "/api/public/scores/s-session"))[0] == 404  # not a v1 (trace) score


async def delete(client: Client, project: TestProject, score_id: str) -> tuple[int, Any]:
    response = await client.delete(f"/api/public/scores/{score_id}", headers=project.basic)
    return response.status_code, await response.get_json()


async def test_delete_goes_through_clickhouse_where_v3_0_0_looked_in_postgres_and_404d(
    client: Client, project: TestProject, resources: Resources
) -> None:
    await seed(resources, project.id)  # these scores exist in ClickHouse only
    assert await delete(client, project, "s-num") == (202, {"message": "Score deleted successfully"})
    assert (await get(client, project, "/api/public/scores/s-num"))[0] == 404
    assert "s-num" not in await ids(client, project)
    assert (await get(client, project, "/api/public/scores"))[1]["meta"]["totalItems"] == 4
    assert (await delete(client, project, "s-num"))[0] == 404  # again: harmless
    assert (await delete(client, project, "never-existed"))[0] == 404


async def test_deleted_ingested_score_stays_deleted_when_its_entity_is_processed_again(
    client: Client, project: TestProject, resources: Resources, worker: Worker
) -> None:
    response = await client.post("/api/public/scores", headers=project.basic,
                                 json={"id": "del-me", "traceId": "del-trace", "name": "q", "value": 1})
    assert response.status_code == 200
    await eventually(lambda: _status(client, project, "/api/public/scores/del-me", 200), what="score del-me")
    prefix = entity_prefix(resources.settings.s3.prefix, project.id, "score", "del-me")
    assert await resources.blob.list(prefix)

    assert (await delete(client, project, "del-me"))[0] == 202
    assert await resources.blob.list(prefix) == []
    job = await resources.redis.enqueue_job(definitions.PROCESS_INGESTION, project.id, [["score", "del-me"]], None,
                                            _queue_name=definitions.QUEUE_NAME)
    assert job is not None
    await job.result(timeout=15)
    assert (await get(client, project, "/api/public/scores/del-me"))[0] == 404


async def _status(client: Client, project: TestProject, path: str, wanted: int) -> bool:
    return (await client.get(path, headers=project.basic)).status_code == wanted


ROUTES = ["/api/public/scores", "/api/public/scores/s-num"]


@pytest.mark.parametrize("path", ROUTES)
async def test_another_projects_key_reads_nothing(client: Client, project: TestProject,
                                                  other_project: TestProject, resources: Resources,
                                                  path: str) -> None:
    await seed(resources, project.id)
    status, body = await get(client, other_project, path)
    if path.endswith("s-num"):
        assert status == 404
    else:
        assert status == 200 and body["data"] == []


async def test_another_projects_key_cannot_delete(client: Client, project: TestProject,
                                                  other_project: TestProject, resources: Resources) -> None:
    await seed(resources, project.id)
    assert (await delete(client, other_project, "s-num"))[0] == 404
    assert (await get(client, project, "/api/public/scores/s-num"))[0] == 200


@pytest.mark.parametrize(("method", "path"), [("GET", p) for p in ROUTES] + [("DELETE", ROUTES[1])])
async def test_bearer_public_key_is_401(client: Client, project: TestProject, method: str, path: str) -> None:
    response = await client.open(path, method=method, headers=project.bearer)
    assert response.status_code == 401
