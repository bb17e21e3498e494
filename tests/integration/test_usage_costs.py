"""Usage, model match, tokenization and cost end to end: POST /api/public/ingestion → worker → read API."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import tiktoken
from arq.worker import Worker
from quart.typing import TestClientProtocol as Client

from langfuse_aio.runtime.resources import Resources
from langfuse_aio.tokenization.encodings import prepare_offline
from tests.factories import TestProject
from tests.support.openapi import assert_valid_response
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

NOW = "2026-03-01T12:00:00.000Z"


def envelope(event_type: str, body: dict[str, Any], timestamp: str = NOW) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "type": event_type, "timestamp": timestamp, "body": body}


async def ingest_generation(client: Client, project: TestProject, **body: Any) -> str:
    observation_id = str(uuid.uuid4())
    trace_id = str(uuid.uuid4())
    generation = {"id": observation_id, "traceId": trace_id, "name": "llm", "startTime": NOW, **body}
    batch = [envelope("trace-create", {"id": trace_id, "name": "t"}), envelope("generation-create", generation)]
    response = await client.post("/api/public/ingestion", json={"batch": batch}, headers=project.basic)
    assert response.status_code == 207
    assert (await response.get_json())["errors"] == []
    return observation_id


async def observation(client: Client, project: TestProject, observation_id: str,
                      ready: Any = lambda o: True) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        response = await client.get(f"/api/public/observations/{observation_id}", headers=project.basic)
        if response.status_code != 200:
            return None
        body: dict[str, Any] = await response.get_json()
        return body if ready(body) else None

    return await eventually(check, what=f"observation {observation_id}")


async def test_gpt_4o_usage_reads_back_with_calculated_costs_model_and_prices(
    client: Client, project: TestProject, worker: Worker
) -> None:
    oid = await ingest_generation(client, project, model="gpt-4o", usage={"input": 1000, "output": 200})
    obs = await observation(client, project, oid, lambda o: o["modelId"])
    assert_valid_response(obs, "/api/public/observations/{observationId}")
    assert obs["modelId"] == "lfaio-gpt-4o"
    assert (obs["inputPrice"], obs["outputPrice"], obs["totalPrice"]) == (0.0000025, 0.00001, None)
    assert obs["usageDetails"] == {"input": 1000, "output": 200, "total": 1200}
    assert obs["costDetails"] == pytest.approx({"input": 0.0025, "output": 0.002, "total": 0.0045})
    assert obs["calculatedTotalCost"] == pytest.approx(0.0045)

    response = await client.get(f"/api/public/traces/{obs['traceId']}", headers=project.basic)
    (in_trace,) = (await response.get_json())["observations"]
    assert in_trace["modelId"] == "lfaio-gpt-4o" and in_trace["calculatedTotalCost"] == pytest.approx(0.0045)


async def test_a_generation_without_usage_is_tokenized(
    client: Client, project: TestProject, worker: Worker, resources: Resources
) -> None:
    messages = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "What is 2+2?"}]
    oid = await ingest_generation(client, project, model="GPT-4o", input=messages, output="2 + 2 = 4.")
    obs = await observation(client, project, oid, lambda o: o["usageDetails"])
    prepare_offline(str(resources.settings.data_dir / "tiktoken"))
    enc = tiktoken.get_encoding("o200k_base")
    expected_in = sum(3 + len(enc.encode(m["role"])) + len(enc.encode(m["content"])) for m in messages) + 3
    expected_out = len(enc.encode("2 + 2 = 4."))
    assert obs["modelId"] == "lfaio-gpt-4o"
    assert obs["usageDetails"] == {"input": expected_in, "output": expected_out, "total": expected_in + expected_out}
    assert obs["costDetails"]["total"] == pytest.approx(expected_in * 2.5e-6 + expected_out * 1e-5)


async def test_provided_costs_win_over_prices(client: Client, project: TestProject, worker: Worker) -> None:
    oid = await ingest_generation(client, project, model="gpt-4o",
                                  usage={"input": 1000, "output": 200, "inputCost": 0.5, "outputCost": 0.25})
    obs = await observation(client, project, oid, lambda o: o["modelId"])
    assert obs["costDetails"] == {"input": 0.5, "output": 0.25, "total": 0.75}


async def test_a_project_model_overrides_the_managed_one(client: Client, project: TestProject, worker: Worker) -> None:
    response = await client.post("/api/public/models", headers=project.basic, json={
        "modelName": "gpt-4o", "matchPattern": "(?i)^(gpt-4o)$", "inputPrice": 0.001, "outputPrice": 0.002})
    own = await response.get_json()
    oid = await ingest_generation(client, project, model="gpt-4o", usage={"input": 100, "output": 10})
    obs = await observation(client, project, oid, lambda o: o["modelId"])
    assert obs["modelId"] == own["id"] and obs["inputPrice"] == 0.001
    assert obs["costDetails"] == pytest.approx({"input": 0.1, "output": 0.02, "total": 0.12})


async def test_the_latest_start_date_before_the_observation_applies(
    client: Client, project: TestProject, worker: Worker
) -> None:
    name = f"dated-{uuid.uuid4().hex[:6]}"
    ids = {}
    for start, price in ((None, 0.000002), ("2023-06-27T00:00:00Z", 0.0000015), ("2024-02-16T00:00:00Z", 0.0000005)):
        response = await client.post("/api/public/models", headers=project.basic, json={
            "modelName": name, "matchPattern": f"(?i)^{name}$", "startDate": start, "inputPrice": price})
        ids[start] = (await response.get_json())["id"]
    cases = {"2024-06-02T00:00:00.000Z": "2024-02-16T00:00:00Z", "2023-07-01T00:00:00.000Z": "2023-06-27T00:00:00Z",
             "2023-01-01T00:00:00.000Z": None}
    for start_time, expected in cases.items():
        oid = await ingest_generation(client, project, model=name, startTime=start_time, usage={"input": 1000})
        obs = await observation(client, project, oid, lambda o: o["modelId"])
        assert obs["modelId"] == ids[expected], start_time


async def test_tiers_follow_model_parameters_and_usage(client: Client, project: TestProject, worker: Worker) -> None:
    oid = await ingest_generation(client, project, model="gpt-4o", usage={"input": 1000, "output": 0},
                                  modelParameters={"service_tier": "priority"})
    obs = await observation(client, project, oid, lambda o: o["modelId"])
    assert obs["costDetails"]["input"] == pytest.approx(1000 * 4.25e-6)  # "Fast mode" tier

    response = await client.post("/api/public/models", headers=project.basic, json={
        "modelName": "ctx-model", "matchPattern": "(?i)^ctx-model$", "pricingTiers": [
            {"name": "Standard", "isDefault": True, "priority": 0, "conditions": [], "prices": {"input": 1e-6}},
            {"name": "Large", "isDefault": False, "priority": 1, "prices": {"input": 2e-6}, "conditions": [
                {"usageDetailPattern": "^input", "operator": "gt", "value": 200000, "caseSensitive": False}]}]})
    assert response.status_code == 200
    small = await ingest_generation(client, project, model="ctx-model", usage={"input": 1000})
    large = await ingest_generation(client, project, model="ctx-model",
                                    usageDetails={"input": 150_000, "input_cached_tokens": 100_000})
    assert (await observation(client, project, small, lambda o: o["costDetails"]))["costDetails"]["input"] == \
        pytest.approx(0.001)
    got = (await observation(client, project, large, lambda o: o["costDetails"]))["costDetails"]
    assert got["input"] == pytest.approx(0.3)


async def test_no_model_no_cost_and_unknown_models_stay_unmatched(
    client: Client, project: TestProject, worker: Worker
) -> None:
    oid = await ingest_generation(client, project, model="my-unknown-llm", usage={"input": 10}, output="x")
    obs = await observation(client, project, oid, lambda o: o["output"])
    assert obs["modelId"] is None and obs["costDetails"] == {} and obs["usageDetails"] == {"input": 10, "total": 10}
