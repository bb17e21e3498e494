"""/api/public/models: create, list, read, delete; managed default models; refreshing the default table."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from langfuse_aio.runtime.resources import Resources
from langfuse_aio.services.model_defaults import refresh_models
from langfuse_aio.storage.postgres.model_admin import get_model
from tests.factories import TestProject
from tests.support.http import api_get as get
from tests.support.openapi import assert_valid, assert_valid_response

pytestmark = pytest.mark.integration
CURRENT = "openapi-current.yml"


async def create(client: Client, project: TestProject, body: dict[str, Any]) -> tuple[int, Any]:
    response = await client.post("/api/public/models", json=body, headers=project.basic)
    return response.status_code, await response.get_json()




async def test_create_read_list_delete_a_project_model(
    client: Client, project: TestProject, other_project: TestProject
) -> None:
    status, created = await create(client, project, {
        "modelName": "my-llm", "matchPattern": "(?i)^my-llm$", "unit": "TOKENS", "inputPrice": 0.001,
        "outputPrice": 0.002, "startDate": "2024-06-01T00:00:00Z", "tokenizerId": "openai",
        "tokenizerConfig": {"tokenizerModel": "gpt-4o", "tokensPerMessage": 3, "tokensPerName": 1},
    })
    assert status == 200, created
    assert_valid(created, "Model", spec=CURRENT)
    assert created["isLangfuseManaged"] is False and created["startDate"] == "2024-06-01T00:00:00.000Z"
    assert (created["inputPrice"], created["outputPrice"], created["totalPrice"]) == (0.001, 0.002, None)
    assert created["prices"] == {"input": {"price": 0.001}, "output": {"price": 0.002}}
    (tier,) = created["pricingTiers"]
    assert tier == {"id": f"{created['id']}_tier_default", "name": "Standard", "isDefault": True, "priority": 0,
                    "conditions": [], "prices": {"input": 0.001, "output": 0.002}}

    status, read = await get(client, project, f"/api/public/models/{created['id']}")
    assert status == 200 and read == created
    assert (await get(client, other_project, f"/api/public/models/{created['id']}"))[0] == 404

    status, page = await get(client, project, "/api/public/models?limit=100")
    assert status == 200
    assert_valid_response(page, "/api/public/models", spec=CURRENT)
    assert page["meta"]["totalItems"] > 150 and page["meta"]["limit"] == 100
    everything = [m for n in range(1, page["meta"]["totalPages"] + 1)
                  for m in (await get(client, project, f"/api/public/models?limit=100&page={n}"))[1]["data"]]
    ours = [m for m in everything if not m["isLangfuseManaged"]]
    assert [m["id"] for m in ours] == [created["id"]]
    assert any(m["id"] == "lfaio-gpt-4o" for m in everything)

    response = await client.delete(f"/api/public/models/{created['id']}", headers=project.basic)
    assert response.status_code == 204
    assert (await get(client, project, f"/api/public/models/{created['id']}"))[0] == 404


async def test_managed_models_are_readable_but_not_deletable(client: Client, project: TestProject) -> None:
    status, gpt4o = await get(client, project, "/api/public/models/lfaio-gpt-4o")
    assert status == 200 and gpt4o["isLangfuseManaged"] is True
    assert_valid_response(gpt4o, "/api/public/models/{id}", spec=CURRENT)
    assert gpt4o["inputPrice"] == 0.0000025 and gpt4o["tokenizerId"] == "openai"
    assert [t["name"] for t in gpt4o["pricingTiers"]] == ["Standard", "Fast mode"]
    response = await client.delete("/api/public/models/lfaio-gpt-4o", headers=project.basic)
    assert response.status_code == 404
    assert "cannot delete built-in models" in (await response.get_json())["message"]


async def test_create_with_pricing_tiers(client: Client, project: TestProject) -> None:
    status, created = await create(client, project, {
        "modelName": "tiered", "matchPattern": "(?i)^tiered$",
        "pricingTiers": [
            {"name": "Standard", "isDefault": True, "priority": 0, "conditions": [], "prices": {"input": 1e-6}},
            {"name": "Large", "isDefault": False, "priority": 1, "prices": {"input": 2e-6},
             "conditions": [{"usageDetailPattern": "input", "operator": "gt", "value": 200000,
                             "caseSensitive": False}]},
        ],
    })
    assert status == 200, created
    assert_valid(created, "Model", spec=CURRENT)
    assert created["unit"] is None and created["inputPrice"] == 1e-6
    assert created["pricingTiers"][1]["conditions"][0]["value"] == 200000


@pytest.mark.parametrize(("body", "field"), [
    ({"matchPattern": "x"}, "modelName"),
    ({"modelName": "m", "matchPattern": "(?i)^(unclosed$"}, "matchPattern"),
    ({"modelName": "m", "matchPattern": "m", "inputPrice": 1, "totalPrice": 2}, "totalPrice"),
    ({"modelName": "m", "matchPattern": "m", "inputPrice": -1}, "inputPrice"),
    ({"modelName": "m", "matchPattern": "m", "unit": "BYTES"}, "unit"),
    ({"modelName": "m", "matchPattern": "m", "tokenizerId": "llama"}, "tokenizerId"),
    ({"modelName": "m", "matchPattern": "m", "inputPrice": 1, "pricingTiers": []}, "pricingTiers"),
    ({"modelName": "m", "matchPattern": "m", "pricingTiers": [
        {"name": "A", "isDefault": False, "priority": 1, "conditions": [], "prices": {"input": 1}}]}, "pricingTiers"),
])
async def test_invalid_bodies_are_400_naming_the_field(
    client: Client, project: TestProject, body: dict[str, Any], field: str
) -> None:
    status, answer = await create(client, project, body)
    assert status == 400, answer
    assert answer["error"][0]["path"][0] == field


async def test_unauthenticated_and_bearer_are_refused(client: Client, project: TestProject) -> None:
    assert (await client.get("/api/public/models")).status_code == 401
    assert (await client.get("/api/public/models", headers=project.bearer)).status_code == 401


def upstream_entry(name: str, price: float, updated: str) -> dict[str, Any]:
    return {"modelName": name, "matchPattern": f"(?i)^{name}$", "updatedAt": updated, "tokenizerId": None,
            "pricingTiers": [{"name": "Standard", "isDefault": True, "priority": 0, "conditions": [],
                              "prices": {"input": price}}]}


async def test_refresh_upserts_managed_models_idempotently(resources: Resources, project: TestProject) -> None:
    name = f"refresh-{uuid.uuid4().hex[:8]}"
    model_id = f"lfaio-{name}"
    first = await refresh_models(resources.pg, [upstream_entry(name, 1e-6, "2026-01-01T00:00:00.000Z")])
    assert first.written == 1
    again = await refresh_models(resources.pg, [upstream_entry(name, 1e-6, "2026-01-01T00:00:00.000Z")])
    assert (again.written, again.unchanged) == (0, 1)

    newer = await refresh_models(resources.pg, [upstream_entry(name, 3e-6, "2026-02-01T00:00:00.000Z")])
    assert newer.written == 1
    older = await refresh_models(resources.pg, [upstream_entry(name, 2e-6, "2025-12-01T00:00:00.000Z")])
    assert older.written == 0  # a later definition in the database is not undone
    stored = await get_model(resources.pg, project.id, model_id)
    assert stored is not None and stored.project_id is None and stored.default_tier is not None
    assert stored.default_tier.prices == {"input": Decimal("0.000003")}

    forced = await refresh_models(resources.pg, [upstream_entry(name, 2e-6, "2025-12-01T00:00:00.000Z")],
                                  force=True)
    assert forced.written == 1
    stored = await get_model(resources.pg, project.id, model_id)
    assert stored is not None and stored.default_tier is not None
    assert stored.default_tier.prices == {"input": Decimal("0.000002")}
