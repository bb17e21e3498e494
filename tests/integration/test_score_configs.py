"""POST/GET /api/public/score-configs, GET/PATCH /score-configs/{id}, and configs applied by the worker."""

from __future__ import annotations

from typing import Any

import pytest
from arq.worker import Worker
from quart.typing import TestClientProtocol as Client

from langfuse_aio.domain.score_inflation import MSG_ARCHIVED, MSG_NO_CONFIG
from langfuse_aio.runtime.resources import Resources
from tests.factories import TestProject
from tests.support.openapi import assert_valid_response
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

CURRENT = "openapi-current.yml"
PATH = "/api/public/score-configs"


async def create(client: Client, project: TestProject, body: Any) -> tuple[int, Any]:
    response = await client.post(PATH, json=body, headers=project.basic)
    return response.status_code, await response.get_json()


async def created(client: Client, project: TestProject, body: dict[str, Any]) -> dict[str, Any]:
    status, config = await create(client, project, body)
    assert status == 200, config
    for spec in ("openapi-v3.0.0.yml", CURRENT):
        assert_valid_response(config, PATH, "post", spec=spec)
    return config


async def test_create_each_data_type(client: Client, project: TestProject) -> None:
    numeric = await created(client, project, {"name": "accuracy", "dataType": "NUMERIC", "minValue": 0,
                                              "maxValue": 1, "description": "share right"})
    assert numeric["projectId"] == project.id and numeric["isArchived"] is False
    assert (numeric["minValue"], numeric["maxValue"], numeric["categories"]) == (0, 1, None)
    assert numeric["description"] == "share right"
    categorical = await created(client, project, {"name": "tone", "dataType": "CATEGORICAL",
                                                  "categories": [{"label": "rude", "value": 0},
                                                                 {"label": "polite", "value": 1}]})
    assert categorical["categories"] == [{"label": "rude", "value": 0}, {"label": "polite", "value": 1}]
    boolean = await created(client, project, {"name": "correct", "dataType": "BOOLEAN"})
    assert boolean["categories"] == [{"label": "True", "value": 1}, {"label": "False", "value": 0}]
    assert boolean["minValue"] is None and boolean["description"] is None


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"dataType": "NUMERIC"}, ["name"]),
        ({"name": "", "dataType": "NUMERIC"}, ["name"]),
        ({"name": "x" * 36, "dataType": "NUMERIC"}, ["name"]),
        ({"name": "n"}, ["dataType"]),
        ({"name": "n", "dataType": "TEXT"}, ["dataType"]),
        ({"name": "n", "dataType": "NUMERIC", "minValue": 1, "maxValue": 1}, ["maxValue"]),
        ({"name": "n", "dataType": "NUMERIC", "minValue": "low"}, ["minValue"]),
        ({"name": "n", "dataType": "CATEGORICAL"}, ["categories"]),
        ({"name": "n", "dataType": "CATEGORICAL", "categories": []}, ["categories"]),
        ({"name": "n", "dataType": "CATEGORICAL", "categories": [{"label": "", "value": 1}]},
         ["categories", 0, "label"]),
        ({"name": "n", "dataType": "CATEGORICAL", "categories": [{"label": "a", "value": "1"}]},
         ["categories", 0, "value"]),
        ({"name": "n", "dataType": "CATEGORICAL",
          "categories": [{"label": "a", "value": 1}, {"label": "a", "value": 2}]}, ["categories"]),
        ({"name": "n", "dataType": "CATEGORICAL",
          "categories": [{"label": "a", "value": 1}, {"label": "b", "value": 1}]}, ["categories"]),
        ({"name": "n", "dataType": "BOOLEAN", "categories": [{"label": "yes", "value": 1}]}, ["categories"]),
        ([], []),
    ],
    ids=["no-name", "empty-name", "long-name", "no-type", "text-type", "max-not-above-min", "min-not-number",
         "no-categories", "empty-categories", "empty-label", "string-value", "duplicate-labels",
         "duplicate-values", "boolean-categories", "not-an-object"],
)
async def test_invalid_bodies_are_400_naming_the_field(client: Client, project: TestProject,
                                                       body: Any, path: list[Any]) -> None:
    status, answer = await create(client, project, body)
    assert status == 400
    assert answer["error"][0]["path"] == path


async def test_duplicate_labels_and_values_have_their_own_messages(client: Client, project: TestProject) -> None:
    labels = (await create(client, project, {"name": "n", "dataType": "CATEGORICAL", "categories": [
        {"label": "a", "value": 1}, {"label": "a", "value": 2}]}))[1]["error"][0]["message"]
    values = (await create(client, project, {"name": "n", "dataType": "CATEGORICAL", "categories": [
        {"label": "a", "value": 1}, {"label": "b", "value": 1}]}))[1]["error"][0]["message"]
    assert "label" in labels and "value" in values and labels != values


async def test_list_and_get(client: Client, project: TestProject) -> None:
    made = [await created(client, project, {"name": f"c{i}", "dataType": "BOOLEAN"}) for i in range(3)]
    response = await client.get(PATH, query_string={"limit": "2"}, headers=project.basic)
    body = await response.get_json()
    assert response.status_code == 200
    assert_valid_response(body, PATH, spec=CURRENT)
    assert body["meta"] == {"page": 1, "limit": 2, "totalItems": 3, "totalPages": 2}
    response = await client.get(PATH, query_string={"limit": "2", "page": "2"}, headers=project.basic)
    listed = body["data"] + (await response.get_json())["data"]
    assert sorted(c["id"] for c in listed) == sorted(c["id"] for c in made)

    response = await client.get(f"{PATH}/{made[1]['id']}", headers=project.basic)
    assert response.status_code == 200 and await response.get_json() == made[1]
    assert (await client.get(f"{PATH}/nope", headers=project.basic)).status_code == 404
    assert (await client.get(PATH, query_string={"limit": "101"}, headers=project.basic)).status_code == 400


async def test_corrupted_stored_config_is_500_and_left_out_of_the_list(
    client: Client, project: TestProject, resources: Resources
) -> None:
    async with resources.pg.connection() as conn:
        await conn.execute(
            "INSERT INTO score_configs (id, project_id, name, data_type, categories) "
            "VALUES ('bad-config', %s, 'broken', 'CATEGORICAL', NULL)", (project.id,))
    response = await client.get(f"{PATH}/bad-config", headers=project.basic)
    assert response.status_code == 500
    assert (await response.get_json())["message"] == "Requested score config is corrupted"
    assert (await (await client.get(PATH, headers=project.basic)).get_json())["data"] == []


async def test_another_projects_key_sees_no_config(client: Client, project: TestProject,
                                                   other_project: TestProject) -> None:
    config = await created(client, project, {"name": "mine", "dataType": "BOOLEAN"})
    assert (await client.get(f"{PATH}/{config['id']}", headers=other_project.basic)).status_code == 404
    assert (await (await client.get(PATH, headers=other_project.basic)).get_json())["data"] == []


@pytest.mark.parametrize(("method", "path"),
                         [("GET", PATH), ("POST", PATH), ("GET", f"{PATH}/x"), ("PATCH", f"{PATH}/x")])
async def test_bearer_public_key_is_401(client: Client, project: TestProject, method: str, path: str) -> None:
    response = await client.open(path, method=method, headers=project.bearer,
                                 json={"name": "n", "dataType": "BOOLEAN"} if method != "GET" else None)
    assert response.status_code == 401


# --- PATCH /score-configs/{id} ----------------------------------------------------------------------


async def patch(client: Client, project: TestProject, config_id: str, body: Any) -> tuple[int, Any]:
    response = await client.patch(f"{PATH}/{config_id}", json=body, headers=project.basic)
    return response.status_code, await response.get_json()


async def patched(client: Client, project: TestProject, config_id: str, body: Any) -> dict[str, Any]:
    status, config = await patch(client, project, config_id, body)
    assert status == 200, config
    assert_valid_response(config, f"{PATH}/{{configId}}", "patch", spec=CURRENT)
    response = await client.get(f"{PATH}/{config_id}", headers=project.basic)
    assert await response.get_json() == config  # what PATCH answers is what is stored
    return config


NUMERIC_BODY = {"name": "accuracy", "dataType": "NUMERIC", "minValue": 0, "maxValue": 1, "description": "d"}
CATEGORICAL_BODY = {"name": "tone", "dataType": "CATEGORICAL",
                    "categories": [{"label": "rude", "value": 0}, {"label": "polite", "value": 1}]}


async def test_patch_changes_each_allowed_field_and_keeps_the_rest(client: Client, project: TestProject) -> None:
    numeric = await created(client, project, NUMERIC_BODY)
    renamed = await patched(client, project, numeric["id"], {"name": "precision"})
    assert renamed["name"] == "precision"
    assert {k: renamed[k] for k in ("minValue", "maxValue", "description", "isArchived", "dataType")} == {
        "minValue": 0, "maxValue": 1, "description": "d", "isArchived": False, "dataType": "NUMERIC"}
    assert renamed["createdAt"] == numeric["createdAt"] and renamed["updatedAt"] >= numeric["updatedAt"]

    bounds = await patched(client, project, numeric["id"], {"minValue": -5, "maxValue": 10.5})
    assert (bounds["minValue"], bounds["maxValue"]) == (-5, 10.5)
    cleared = await patched(client, project, numeric["id"], {"maxValue": None, "description": None})
    assert (cleared["minValue"], cleared["maxValue"], cleared["description"]) == (-5, None, None)
    described = await patched(client, project, numeric["id"], {"description": "new words", "unknown": 1})
    assert described["description"] == "new words" and described["name"] == "precision"
    archived = await patched(client, project, numeric["id"], {"isArchived": True})
    assert archived["isArchived"] is True
    assert (await patched(client, project, numeric["id"], {"isArchived": False}))["isArchived"] is False

    categorical = await created(client, project, CATEGORICAL_BODY)
    three = [{"label": "rude", "value": 0}, {"label": "neutral", "value": 0.5}, {"label": "polite", "value": 1}]
    assert (await patched(client, project, categorical["id"], {"categories": three}))["categories"] == three

    boolean = await created(client, project, {"name": "correct", "dataType": "BOOLEAN"})
    same = await patched(client, project, boolean["id"], {"categories": boolean["categories"], "name": "right"})
    assert same["categories"] == boolean["categories"] and same["name"] == "right"


@pytest.mark.parametrize(
    ("base", "body", "path"),
    [
        (NUMERIC_BODY, {}, []),
        (NUMERIC_BODY, {"unknown": 1}, []),
        (NUMERIC_BODY, [], []),
        (NUMERIC_BODY, {"name": ""}, ["name"]),
        (NUMERIC_BODY, {"name": "x" * 36}, ["name"]),
        (NUMERIC_BODY, {"name": None}, ["name"]),
        (NUMERIC_BODY, {"isArchived": "yes"}, ["isArchived"]),
        (NUMERIC_BODY, {"isArchived": None}, ["isArchived"]),
        (NUMERIC_BODY, {"description": 5}, ["description"]),
        (NUMERIC_BODY, {"minValue": "low"}, ["minValue"]),
        (NUMERIC_BODY, {"maxValue": 0}, ["maxValue"]),  # not above the stored minValue 0
        (NUMERIC_BODY, {"minValue": 1}, ["minValue"]),  # not below the stored maxValue 1
        (NUMERIC_BODY, {"categories": [{"label": "a", "value": 1}]}, ["categories"]),
        (CATEGORICAL_BODY, {"maxValue": 3}, ["maxValue"]),
        (CATEGORICAL_BODY, {"categories": []}, ["categories"]),
        (CATEGORICAL_BODY, {"categories": None}, ["categories"]),
        (CATEGORICAL_BODY, {"categories": [{"label": "a", "value": 1}, {"label": "a", "value": 2}]}, ["categories"]),
        (CATEGORICAL_BODY, {"categories": [{"label": "a", "value": "1"}]}, ["categories", 0, "value"]),
        ({"name": "b", "dataType": "BOOLEAN"}, {"categories": [{"label": "yes", "value": 1}]}, ["categories"]),
        ({"name": "b", "dataType": "BOOLEAN"}, {"minValue": 0}, ["minValue"]),
    ],
    ids=["empty", "only-unknown-keys", "not-an-object", "empty-name", "long-name", "null-name", "archived-string",
         "archived-null", "description-number", "min-string", "max-not-above-stored-min", "min-not-below-stored-max",
         "numeric-categories", "categorical-bounds", "empty-categories", "null-categories", "duplicate-labels",
         "string-category-value", "boolean-categories", "boolean-bounds"],
)
async def test_patch_invalid_bodies_are_400_naming_the_field_and_change_nothing(
    client: Client, project: TestProject, base: dict[str, Any], body: Any, path: list[Any]
) -> None:
    config = await created(client, project, base)
    status, answer = await patch(client, project, config["id"], body)
    assert status == 400, answer
    assert answer["error"][0]["path"] == path
    assert await (await client.get(f"{PATH}/{config['id']}", headers=project.basic)).get_json() == config


async def test_patch_of_a_missing_or_foreign_config_is_404(client: Client, project: TestProject,
                                                           other_project: TestProject) -> None:
    config = await created(client, project, NUMERIC_BODY)
    status, answer = await patch(client, other_project, config["id"], {"name": "stolen", "isArchived": True})
    assert status == 404 and answer["message"] == "Score config not found within authorized project"
    assert (await patch(client, project, "no-such-config", {"name": "x"}))[0] == 404
    assert await (await client.get(f"{PATH}/{config['id']}", headers=project.basic)).get_json() == config


async def test_patch_can_repair_a_corrupted_config(client: Client, project: TestProject, resources: Resources) -> None:
    async with resources.pg.connection() as conn:
        await conn.execute(
            "INSERT INTO score_configs (id, project_id, name, data_type, categories) "
            "VALUES ('broken-config', %s, 'broken', 'CATEGORICAL', NULL)", (project.id,))
    status, answer = await patch(client, project, "broken-config", {"description": "still broken"})
    assert status == 400 and "categories" in answer["error"][0]["message"]
    repaired = await patched(client, project, "broken-config", {"categories": [{"label": "ok", "value": 1}]})
    assert repaired["categories"] == [{"label": "ok", "value": 1}] and repaired["description"] is None


async def test_archiving_by_patch_makes_the_worker_reject_new_scores(
    client: Client, project: TestProject, worker: Worker, resources: Resources
) -> None:
    config = await created(client, project, {"name": "retired", "dataType": "NUMERIC"})
    await patched(client, project, config["id"], {"isArchived": True})
    await ingest(client, project, [
        score_event("a1", {"id": "on-archived", "traceId": "t", "name": "s", "value": 1, "configId": config["id"]}),
    ])

    async def recorded() -> str | None:
        async with resources.pg.connection() as conn:
            cur = await conn.execute("SELECT reason FROM langfuse_aio_ingestion_errors "
                                     "WHERE project_id = %s AND entity_id = 'on-archived'", (project.id,))
            found = await cur.fetchone()
        return None if found is None else str(found[0])

    assert await eventually(recorded, what="the archived-config violation") == MSG_ARCHIVED


# --- configs applied by the worker -----------------------------------------------------------------


def score_event(event_id: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"id": event_id, "type": "score-create", "timestamp": "2026-11-28T10:00:00.000Z", "body": body}


async def ingest(client: Client, project: TestProject, events: list[dict[str, Any]]) -> None:
    response = await client.post("/api/public/ingestion", json={"batch": events}, headers=project.basic)
    assert response.status_code == 207 and not (await response.get_json())["errors"]


async def score(client: Client, project: TestProject, score_id: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        response = await client.get(f"/api/public/scores/{score_id}", headers=project.basic)
        return await response.get_json() if response.status_code == 200 else None

    return await eventually(check, what=f"score {score_id}")


async def test_ingested_score_takes_the_configs_name_and_category_value(
    client: Client, project: TestProject, worker: Worker
) -> None:
    tone = await created(client, project, {"name": "tone", "dataType": "CATEGORICAL", "categories": [
        {"label": "rude", "value": 0}, {"label": "polite", "value": 1}]})
    correct = await created(client, project, {"name": "correct", "dataType": "BOOLEAN"})
    await ingest(client, project, [
        score_event("e1", {"id": "cfg-cat", "traceId": "t", "name": "whatever", "value": "polite",
                           "configId": tone["id"]}),
        score_event("e2", {"id": "cfg-bool", "traceId": "t", "name": "x", "value": 1, "configId": correct["id"]}),
    ])
    categorical = await score(client, project, "cfg-cat")
    assert (categorical["name"], categorical["value"], categorical["stringValue"]) == ("tone", 1, "polite")
    assert categorical["configId"] == tone["id"] and categorical["dataType"] == "CATEGORICAL"
    boolean = await score(client, project, "cfg-bool")
    assert (boolean["name"], boolean["dataType"], boolean["stringValue"]) == ("correct", "BOOLEAN", "True")


async def test_config_violations_are_recorded_and_do_not_block_other_events(
    client: Client, project: TestProject, other_project: TestProject, worker: Worker, resources: Resources
) -> None:
    bounded = await created(client, project, {"name": "bounded", "dataType": "NUMERIC", "maxValue": 1})
    archived = await created(client, project, {"name": "old", "dataType": "NUMERIC"})
    foreign = await created(client, other_project, {"name": "theirs", "dataType": "NUMERIC"})
    async with resources.pg.connection() as conn:
        await conn.execute("UPDATE score_configs SET is_archived = true WHERE id = %s", (archived["id"],))
    await ingest(client, project, [
        score_event("v1", {"id": "too-high", "traceId": "t", "name": "s", "value": 5, "configId": bounded["id"]}),
        score_event("v2", {"id": "wrong-type", "traceId": "t", "name": "s", "value": 1, "dataType": "BOOLEAN",
                           "configId": bounded["id"]}),
        score_event("v3", {"id": "archived", "traceId": "t", "name": "s", "value": 1, "configId": archived["id"]}),
        score_event("v4", {"id": "foreign", "traceId": "t", "name": "s", "value": 1, "configId": foreign["id"]}),
        score_event("v5", {"id": "fine", "traceId": "t", "name": "s", "value": 0.5, "configId": bounded["id"]}),
    ])
    assert (await score(client, project, "fine"))["name"] == "bounded"

    async def recorded() -> dict[str, str] | None:
        async with resources.pg.connection() as conn:
            cur = await conn.execute("SELECT entity_id, reason FROM langfuse_aio_ingestion_errors "
                                     "WHERE project_id = %s AND entity_type = 'score'", (project.id,))
            reasons = {str(r[0]): str(r[1]) for r in await cur.fetchall()}
        return reasons if len(reasons) == 4 else None

    reasons = await eventually(recorded, what="four recorded violations")
    assert "exceeds maximum value of 1" in reasons["too-high"]
    assert reasons["wrong-type"] == "Data type mismatch based on config: expected NUMERIC, got BOOLEAN"
    assert reasons["archived"] == MSG_ARCHIVED and reasons["foreign"] == MSG_NO_CONFIG
    for score_id in reasons:
        assert (await client.get(f"/api/public/scores/{score_id}", headers=project.basic)).status_code == 404
