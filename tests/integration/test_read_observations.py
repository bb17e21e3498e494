"""GET /api/public/observations, /observations/{id} and /v2/observations on rows seeded into ClickHouse
(several versions per id, tombstones, a moved sorting key) and model prices seeded into Postgres."""

from __future__ import annotations

import base64
import uuid
from decimal import Decimal
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from langfuse_aio.runtime.resources import Resources
from tests.factories import TestProject
from tests.support import rows
from tests.support.http import api_get as get
from tests.support.openapi import assert_valid_response
from tests.support.rows import insert_each, ts

pytestmark = pytest.mark.integration

V1 = "/api/public/observations"
V2 = "/api/public/v2/observations"
CURRENT = "openapi-current.yml"
LIVE = ["o-moved", "o-renamed", "o-event", "o-span", "o-gen"]  # start_time desc


async def add_model(res: Resources, project_id: str, prices: dict[str, str]) -> str:
    model_id = f"model-{uuid.uuid4().hex[:10]}"
    async with res.pg.connection() as conn:
        await conn.execute(
            "INSERT INTO models (id, project_id, model_name, match_pattern, unit) VALUES (%s, %s, %s, %s, 'TOKENS')",
            (model_id, project_id, "gpt-test", "(?i)^gpt-test$"),
        )
        for usage_type, price in prices.items():
            await conn.execute(
                "INSERT INTO prices (id, model_id, usage_type, price) VALUES (%s, %s, %s, %s)",
                (uuid.uuid4().hex, model_id, usage_type, Decimal(price)),
            )
    return model_id


async def seed(res: Resources, project_id: str) -> str:
    """Two traces, five live observations, one deleted one; returns the priced model's id."""
    p, ch = project_id, res.clickhouse
    model_id = await add_model(res, p, {"input": "0.000005", "output": "0.000015"})
    await insert_each(ch, "traces",
                      rows.trace(p, "t-1", user_id="alice", session_id="sess-1", tags=["x"], release="r1", name="one"),
                      rows.trace(p, "t-2", user_id="bob"))
    renamed_old = rows.observation(p, "o-renamed", "t-2", name="old-name", level="DEFAULT", start_time=ts(40),
                                   event_ts=ts(1))
    moved_old = rows.observation(p, "o-moved", "t-2", type="SPAN", name="mover", start_time=ts(50), event_ts=ts(1))
    deleted = rows.observation(p, "o-deleted", "t-1", name="gone", start_time=ts(60), event_ts=ts(1))
    await insert_each(
        ch, "observations",
        rows.observation(p, "o-gen", "t-1", type="GENERATION", name="llm", start_time=ts(10), end_time=ts(12.5),
                         completion_start_time=ts(11), version="v1", provided_model_name="gpt-test",
                         internal_model_id=model_id, model_parameters='{"temperature":0.2}',
                         usage_details={"input": 10, "output": 5, "total": 15},
                         cost_details={"input": Decimal("0.00005"), "output": Decimal("0.000075"),
                                       "total": Decimal("0.000125")},
                         total_cost=Decimal("0.000125"), input='{"q":"hi"}', output="plain text",
                         metadata={"short": "s", "long": "x" * 300}),
        rows.observation(p, "o-span", "t-1", name="step", parent_observation_id="o-gen", start_time=ts(20),
                         version="v2", environment="staging"),
        rows.observation(p, "o-event", "t-2", type="EVENT", name="ev", level="ERROR", start_time=ts(30),
                         status_message="boom"),
        renamed_old,
        renamed_old | {"name": "new-name", "level": "WARNING", "event_ts": ts(2)},
        moved_old, rows.tombstone(moved_old, ts(2)),
        moved_old | {"type": "GENERATION", "event_ts": ts(3)},
        deleted, rows.tombstone(deleted, ts(2)),
    )
    return model_id




async def v1_ids(client: Client, project: TestProject, params: Any = None) -> list[str]:
    status, body = await get(client, project, V1, params)
    assert status == 200, body
    assert_valid_response(body, V1)
    return [item["id"] for item in body["data"]]


async def v2_page(client: Client, project: TestProject, params: Any = None) -> dict[str, Any]:
    status, body = await get(client, project, V2, params)
    assert status == 200, body
    assert_valid_response(body, V2, spec=CURRENT)
    return dict(body)


# --- v1 list ------------------------------------------------------------------------------------


async def test_list_returns_latest_live_versions_newest_first(
    client: Client, project: TestProject, resources: Resources
) -> None:
    model_id = await seed(resources, project.id)
    status, body = await get(client, project, V1)
    assert status == 200
    assert_valid_response(body, V1)
    assert [o["id"] for o in body["data"]] == LIVE
    assert body["meta"] == {"page": 1, "limit": 50, "totalItems": 5, "totalPages": 1}
    by_id = {o["id"]: o for o in body["data"]}
    assert by_id["o-renamed"]["name"] == "new-name" and by_id["o-renamed"]["level"] == "WARNING"
    assert by_id["o-moved"]["type"] == "GENERATION"
    gen = by_id["o-gen"]
    assert gen["modelId"] == model_id and gen["model"] == "gpt-test"
    assert (gen["inputPrice"], gen["outputPrice"], gen["totalPrice"]) == (0.000005, 0.000015, None)
    assert gen["usage"] == {"unit": "TOKENS", "input": 10, "output": 5, "total": 15}
    assert gen["calculatedTotalCost"] == pytest.approx(0.000125)
    assert gen["latency"] == 2.5 and gen["timeToFirstToken"] == 1.0
    assert gen["input"] == {"q": "hi"} and gen["modelParameters"] == {"temperature": 0.2}
    assert by_id["o-span"]["inputPrice"] is None and by_id["o-span"]["modelId"] is None


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"type": "GENERATION"}, ["o-moved", "o-gen"]),
        ({"type": "SPAN"}, ["o-renamed", "o-span"]),  # o-moved's old SPAN version is tombstoned
        ({"name": "new-name"}, ["o-renamed"]),
        ({"name": "old-name"}, []),  # only an older version had it
        ({"traceId": "t-1"}, ["o-span", "o-gen"]),
        ({"parentObservationId": "o-gen"}, ["o-span"]),
        ({"version": "v2"}, ["o-span"]),
        ({"level": "WARNING"}, ["o-renamed"]),
        ({"level": "DEFAULT"}, ["o-moved", "o-span", "o-gen"]),
        ({"userId": "alice"}, ["o-span", "o-gen"]),
        ({"userId": "nobody"}, []),
        ({"environment": "staging"}, ["o-span"]),
        ([("environment", "staging"), ("environment", "default")], LIVE),
        ({"environment": "staging,default"}, LIVE),
        ({"fromStartTime": rows.T0.isoformat(timespec="milliseconds").replace("+00:00", "Z")}, LIVE),
        ({"fromStartTime": ts(20).isoformat(), "toStartTime": ts(40).isoformat()}, ["o-event", "o-span"]),
        ({"toStartTime": ts(20).isoformat()}, ["o-gen"]),
        ({"traceId": "t-2", "type": "EVENT", "level": "ERROR"}, ["o-event"]),
    ],
)
async def test_each_filter(
    client: Client, project: TestProject, resources: Resources, params: Any, expected: list[str]
) -> None:
    await seed(resources, project.id)
    assert await v1_ids(client, project, params) == expected
    status, body = await get(client, project, V1, params)
    assert status == 200 and body["meta"]["totalItems"] == len(expected)
    assert [o["id"] for o in (await v2_page(client, project, params))["data"]] == expected


async def test_pages_split_the_order_and_meta_counts_all(
    client: Client, project: TestProject, resources: Resources
) -> None:
    await seed(resources, project.id)
    pages = [await get(client, project, V1, {"limit": 2, "page": n}) for n in (1, 2, 3, 4)]
    assert [[o["id"] for o in body["data"]] for _, body in pages] == [LIVE[:2], LIVE[2:4], LIVE[4:], []]
    assert [body["meta"] for _, body in pages][1] == {"page": 2, "limit": 2, "totalItems": 5, "totalPages": 3}
    assert pages[3][1]["meta"]["totalItems"] == 5


async def test_newer_deleted_rows_do_not_hide_older_live_ones(
    client: Client, project: TestProject, resources: Resources
) -> None:
    """Many deleted observations newer than the live ones: the page must still be full and exact."""
    p = project.id
    deleted = [rows.observation(p, f"d-{i:03d}", "t", start_time=ts(1000 + i), event_ts=ts(1)) for i in range(80)]
    await resources.clickhouse.insert("observations", deleted + [rows.tombstone(r, ts(2)) for r in deleted])
    live = [rows.observation(p, f"l-{i}", "t", start_time=ts(i)) for i in range(5)]
    stale = [r | {"start_time": ts(2000 + int(r["id"][2:])), "event_ts": ts(-1)} for r in live]  # older versions
    await resources.clickhouse.insert("observations", live + stale)
    status, body = await get(client, project, V1, {"limit": 2, "page": 2})
    assert status == 200 and body["meta"]["totalItems"] == 5
    assert [o["id"] for o in body["data"]] == ["l-2", "l-1"]
    assert [o["id"] for o in (await v2_page(client, project, {"limit": 3}))["data"]] == ["l-4", "l-3", "l-2"]


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"type": "AGENT"}, "type"),
        ({"type": "generation"}, "type"),
        ({"level": "LOUD"}, "level"),
        ({"limit": 101}, "limit"),
        ({"limit": 0}, "limit"),
        ({"page": 0}, "page"),
        ({"page": "x"}, "page"),
        ({"fromStartTime": "yesterday"}, "fromStartTime"),
        ({"toStartTime": "2024-13-01T00:00:00Z"}, "toStartTime"),
        ({"filter": "[{}]"}, "filter"),
    ],
)
async def test_bad_v1_parameters_are_400_naming_them(
    client: Client, project: TestProject, params: dict[str, Any], name: str
) -> None:
    status, body = await get(client, project, V1, params)
    assert status == 400, body
    assert body["error"][0]["path"] == [name] and name in body["message"]


# --- v1 single ----------------------------------------------------------------------------------


async def test_get_one_with_prices_and_404s(client: Client, project: TestProject, resources: Resources) -> None:
    model_id = await seed(resources, project.id)
    status, body = await get(client, project, f"{V1}/o-gen")
    assert status == 200
    assert_valid_response(body, "/api/public/observations/{observationId}")
    assert body["id"] == "o-gen" and body["modelId"] == model_id
    assert (body["inputPrice"], body["outputPrice"], body["totalPrice"]) == (0.000005, 0.000015, None)
    assert body["metadata"] == {"short": "s", "long": "x" * 300}
    status, body = await get(client, project, f"{V1}/o-renamed")
    assert body["name"] == "new-name"
    for missing in ("o-deleted", "nope"):
        status, body = await get(client, project, f"{V1}/{missing}")
        assert status == 404
        assert body == {"message": "Observation not found within authorized project", "error": "LangfuseNotFoundError"}


async def test_missing_prices_are_null(client: Client, project: TestProject, resources: Resources) -> None:
    await insert_each(resources.clickhouse, "observations",
                      rows.observation(project.id, "o-unpriced", "t", type="GENERATION", internal_model_id="no-such"))
    status, body = await get(client, project, f"{V1}/o-unpriced")
    assert status == 200 and body["modelId"] == "no-such"
    assert (body["inputPrice"], body["outputPrice"], body["totalPrice"]) == (None, None, None)


# --- auth and isolation -------------------------------------------------------------------------


async def test_other_projects_see_nothing(
    client: Client, project: TestProject, other_project: TestProject, resources: Resources
) -> None:
    await seed(resources, project.id)
    assert await v1_ids(client, other_project) == []
    assert (await v2_page(client, other_project))["data"] == []
    assert await v1_ids(client, other_project, {"traceId": "t-1"}) == []
    for obs_id in LIVE:
        status, _ = await get(client, other_project, f"{V1}/{obs_id}")
        assert status == 404


@pytest.mark.parametrize("path", [V1, f"{V1}/o-gen", V2])
async def test_bearer_public_key_is_401(client: Client, project: TestProject, path: str) -> None:
    response = await client.get(path, headers=project.bearer)
    assert response.status_code == 401
    assert (await response.get_json())["error"] == "UnauthorizedError"


# --- v2 -----------------------------------------------------------------------------------------

CORE = {"id", "traceId", "startTime", "endTime", "projectId", "parentObservationId", "type",
        "modelId", "inputPrice", "outputPrice", "totalPrice"}
BASIC = {"name", "level", "statusMessage", "version", "environment", "bookmarked", "public", "userId",
         "sessionId", "isRootObservation"}


async def test_v2_default_fields_are_core_and_basic(
    client: Client, project: TestProject, resources: Resources
) -> None:
    await seed(resources, project.id)
    body = await v2_page(client, project, {"traceId": "t-1"})
    assert body["meta"] == {}
    span, gen = body["data"]
    assert set(span) == CORE | BASIC
    assert span["parentObservationId"] == "o-gen" and span["isRootObservation"] is False
    assert gen["isRootObservation"] is True and gen["userId"] == "alice" and gen["sessionId"] == "sess-1"
    assert gen["modelId"] is None and gen["inputPrice"] is None  # the model group was not asked for


async def test_v2_sdk_field_groups(client: Client, project: TestProject, resources: Resources) -> None:
    """What the Python SDK v5 asks: `fields=core,basic,io,model,usage`."""
    model_id = await seed(resources, project.id)
    body = await v2_page(client, project, {"traceId": "t-1", "fields": "core,basic,io,model,usage", "limit": 10})
    gen = body["data"][1]
    assert gen["id"] == "o-gen"
    assert gen["input"] == '{"q":"hi"}' and gen["output"] == "plain text"  # raw strings
    assert gen["providedModelName"] == "gpt-test" and gen["internalModelId"] == model_id
    assert gen["modelId"] == model_id and gen["modelParameters"] == {"temperature": 0.2}
    assert (gen["inputPrice"], gen["outputPrice"], gen["totalPrice"]) == ("0.000005", "0.000015", None)
    assert gen["usageDetails"] == {"input": 10, "output": 5, "total": 15}
    assert gen["costDetails"]["total"] == pytest.approx(0.000125) and gen["totalCost"] == pytest.approx(0.000125)
    assert "metadata" not in gen and "latency" not in gen


async def test_v2_remaining_groups_and_metadata_preview(
    client: Client, project: TestProject, resources: Resources
) -> None:
    await seed(resources, project.id)
    fields = "time,metadata,prompt,metrics,trace_context"
    gen = (await v2_page(client, project, {"traceId": "t-1", "type": "GENERATION", "fields": fields}))["data"][0]
    assert gen["metadata"] == {"short": "s", "long": "x" * 200}
    assert gen["latency"] == 2.5 and gen["timeToFirstToken"] == 1.0
    assert gen["completionStartTime"] == "2024-11-05T10:11:23.345Z"
    assert (gen["tags"], gen["release"], gen["traceName"]) == (["x"], "r1", "one")
    assert gen["promptName"] is None and "name" not in gen  # basic was not asked for
    for expand in ("long", "*"):
        gen = (await v2_page(client, project, {"traceId": "t-1", "type": "GENERATION", "fields": "metadata",
                                               "expandMetadata": expand}))["data"][0]
        assert gen["metadata"]["long"] == "x" * 300


async def test_v2_filters_only_it_has(client: Client, project: TestProject, resources: Resources) -> None:
    await seed(resources, project.id)
    ids = [o["id"] for o in (await v2_page(client, project, {"sessionId": "sess-1"}))["data"]]
    assert ids == ["o-span", "o-gen"]
    roots = [o["id"] for o in (await v2_page(client, project, {"isRootObservation": "true"}))["data"]]
    assert roots == ["o-moved", "o-renamed", "o-event", "o-gen"]
    assert [o["id"] for o in (await v2_page(client, project, {"parentObservationId": ""}))["data"]] == roots
    children = [o["id"] for o in (await v2_page(client, project, {"isRootObservation": "false"}))["data"]]
    assert children == ["o-span"]


async def test_v2_cursor_walks_every_row_once(client: Client, project: TestProject, resources: Resources) -> None:
    await seed(resources, project.id)
    same_time = [rows.observation(project.id, f"tie-{i}", "t-3", start_time=ts(30)) for i in range(4)]
    await insert_each(resources.clickhouse, "observations", *same_time)  # ties with o-event: ordered by id
    expected = await v1_ids(client, project, {"limit": 100})
    assert len(expected) == 9
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(10):
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = await v2_page(client, project, params)
        seen += [o["id"] for o in body["data"]]
        cursor = body["meta"].get("cursor")
        if cursor is None:
            break
    assert seen == expected


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": base64.b64encode(b'{"id": 1}').decode()}, "cursor"),
        ({"fields": "core,everything"}, "fields"),
        ({"limit": 1001}, "limit"),
        ({"type": "WIDGET"}, "type"),
        ({"parseIoAsJson": "true"}, "parseIoAsJson"),
        ({"isRootObservation": "maybe"}, "isRootObservation"),
        ({"filter": '[{"column":"name"}]'}, "filter"),
    ],
)
async def test_bad_v2_parameters_are_400_naming_them(
    client: Client, project: TestProject, params: dict[str, Any], name: str
) -> None:
    status, body = await get(client, project, V2, params)
    assert status == 400, body
    assert body["error"][0]["path"] == [name] and name in body["message"]


async def test_v2_accepts_the_new_observation_types_and_a_large_limit(client: Client, project: TestProject) -> None:
    body = await v2_page(client, project, {"type": "AGENT", "limit": 1000})
    assert body == {"data": [], "meta": {}}
