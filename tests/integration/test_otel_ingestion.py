"""POST /api/public/otel/v1/traces end to end: recorded OTLP requests in, traces and observations out."""

from __future__ import annotations

import copy
import gzip
import json
from typing import Any

import pytest
from arq.worker import Worker
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from quart.typing import TestClientProtocol as Client

from tests.factories import TestProject
from tests.support.otlp import OTEL_PATH, protobuf_body, protobuf_headers, sample_body
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

JS_TRACE = "011a575590a16437d8e5c4948472a649"
PY_TRACE, PY_DECORATED = "9d3a3d0ec2e05fc2bcb6a939e6a3133e", "916468a20329a66b2c7c3b93d8ab233a"


async def trace_when(client: Client, project: TestProject, trace_id: str, observations: int) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        response = await client.get(f"/api/public/traces/{trace_id}", headers=project.basic)
        if response.status_code != 200:
            return None
        body: dict[str, Any] = await response.get_json()
        return body if len(body["observations"]) == observations and body["name"] else None

    return await eventually(check, what=f"trace {trace_id} with {observations} observations")


def by_name(trace: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["name"]: o for o in trace["observations"]}


def fresh_ids(body: dict[str, Any], suffix: str) -> dict[str, Any]:
    """The sample with its trace ids changed (last hex digits), so each test has its own traces."""
    copied = copy.deepcopy(body)
    for rs in copied["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                span["traceId"] = span["traceId"][: -len(suffix)] + suffix
    return copied


async def test_recorded_js_otlp_json_sample_replays(client: Client, project: TestProject, worker: Worker) -> None:
    body = sample_body("js-otel-5.11.1-otlp-traces.json")
    response = await client.post(OTEL_PATH, data=json.dumps(body).encode(), headers={
        **project.basic, "Content-Type": "application/json", "x-langfuse-sdk-name": "javascript"})
    assert response.status_code == 200
    assert response.content_type == "application/json" and await response.get_json() == {}

    trace = await trace_when(client, project, JS_TRACE, 4)
    assert trace["name"] == "probe-trace" and trace["environment"] == "probe-env" and trace["release"] == "r1"
    assert (trace["userId"], trace["sessionId"], trace["tags"]) == ("user-42", "sess-7", ["t1", "t2"])
    assert trace["input"] == {"question": "What is 2+2?"} and trace["output"] == {"answer": "4"}
    assert trace["metadata"]["tenant"] == "acme"
    assert trace["metadata"]["resourceAttributes"]["service.name"] == "unknown_service:node"
    assert trace["timestamp"] == "2026-11-28T15:02:12.968Z"  # the earliest span start, ms truncated

    observations = by_name(trace)
    root, retrieve = observations["probe-root"], observations["retrieve"]
    assert root["type"] == "SPAN" and root["metadata"]["env"] == "probe" and root["metadata"]["n"] == 1
    assert root["startTime"] == "2026-11-28T15:02:12.968Z" and root["endTime"] == "2026-11-28T15:02:12.976Z"
    assert retrieve["parentObservationId"] == root["id"] == "e2576ceb87bfa599"
    assert retrieve["output"] == {"docs": ["a", "b"]} and retrieve["metadata"]["k"] == "v"
    generation = observations["llm-call"]
    assert generation["type"] == "GENERATION" and generation["model"] == "gpt-4o"
    assert generation["parentObservationId"] == retrieve["id"]
    assert generation["modelParameters"] == {"temperature": 0.2, "max_tokens": 50}
    assert generation["usageDetails"] == {"input": 12, "output": 3, "total": 15}
    assert generation["costDetails"]["total"] == pytest.approx(0.0003)
    assert generation["completionStartTime"] == "2026-11-28T15:02:12.973Z"
    assert generation["input"][1] == {"role": "user", "content": "What is 2+2?"}
    event = observations["cache-hit"]
    assert event["type"] == "EVENT" and event["level"] == "DEBUG" and event["input"] == {"key": "2+2"}
    assert {o["environment"] for o in trace["observations"]} == {"probe-env"}


async def test_recorded_python_sdk_protobuf_gzip_sample_replays(
    client: Client, project: TestProject, worker: Worker
) -> None:
    body = protobuf_body(sample_body("py-v5.0.4-otlp-traces.json"))
    response = await client.post(OTEL_PATH, data=body, headers=protobuf_headers(project.basic))
    assert response.status_code == 200 and response.content_type == "application/x-protobuf"
    parsed = ExportTraceServiceResponse.FromString(await response.get_data())
    assert not parsed.HasField("partial_success")

    trace = await trace_when(client, project, PY_TRACE, 5)
    assert trace["name"] == "probe-trace" and trace["version"] == "app-1" and trace["release"] == "r1"
    assert trace["metadata"]["tenant"] == "acme"  # sent JSON-encoded ('"acme"'), read back decoded
    assert trace["input"] == {"question": "What is 2+2?"} and trace["output"] == {"answer": "4"}
    observations = by_name(trace)
    root = observations["probe-root"]
    assert root["parentObservationId"] is None  # langfuse.internal.as_root: its random parent is ignored
    assert observations["calculator"]["type"] == "TOOL" and observations["calculator"]["output"] == 4
    assert observations["llm-call"]["completionStartTime"] == "2026-11-28T14:49:24.637Z"
    assert observations["llm-call"]["metadata"]["provider"] == "openai"
    assert root["metadata"]["scope"]["attributes"] == {"public_key": "pk-lf-test"}

    decorated = await trace_when(client, project, PY_DECORATED, 3)
    assert decorated["name"] == "decorated-root" and decorated["tags"] == ["deco"]
    assert by_name(decorated)["fake_llm"]["usageDetails"] == {"input": 3, "output": 1, "total": 4}


async def test_uncompressed_protobuf_and_json_answers_are_otlp_responses(
    client: Client, project: TestProject, worker: Worker
) -> None:
    body = fresh_ids(sample_body("py-v5.0.4-otlp-traces.json"), "aaaa")
    spans = body["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans.append({**spans[0], "spanId": "", "name": "no-id"})  # rejected; the rest is kept
    response = await client.post(OTEL_PATH, data=protobuf_body(body, compress=False),
                                 headers=protobuf_headers(project.basic, compress=False))
    assert response.status_code == 200
    partial = ExportTraceServiceResponse.FromString(await response.get_data()).partial_success
    assert partial.rejected_spans == 1 and "no-id" in partial.error_message

    response = await client.post(OTEL_PATH, json=body, headers=project.basic)
    assert response.status_code == 200
    answer = await response.get_json()
    assert answer["partialSuccess"]["rejectedSpans"] in ("1", 1)
    assert "spanId" in answer["partialSuccess"]["errorMessage"]
    trace = await trace_when(client, project, PY_TRACE[:-4] + "aaaa", 5)
    assert {o["name"] for o in trace["observations"]} == {"probe-root", "retrieve", "llm-call", "cache-hit",
                                                          "calculator"}


async def test_trace_is_only_visible_in_its_project(
    client: Client, project: TestProject, other_project: TestProject, worker: Worker
) -> None:
    body = fresh_ids(sample_body("js-otel-5.11.1-otlp-traces.json"), "bbbb")
    response = await client.post(OTEL_PATH, json=body, headers=project.basic)
    assert response.status_code == 200
    await trace_when(client, project, JS_TRACE[:-4] + "bbbb", 4)
    other = await client.get(f"/api/public/traces/{JS_TRACE[:-4]}bbbb", headers=other_project.basic)
    assert other.status_code == 404


@pytest.mark.parametrize(("data", "headers", "fragment"), [
    (b"\x0a\xff\xff\xff\xff\x0f\x01", {"Content-Type": "application/x-protobuf"}, "Failed to parse OTel Protobuf"),
    (b"\x0a\x05\x0a\x03", {"Content-Type": "application/x-protobuf"}, "Failed to parse OTel Protobuf"),
    (b"{}", {"Content-Type": "text/plain"}, "Invalid content type"),
    (b"{}", {}, "Invalid content type"),
    (b"not gzip", {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}, "decompress"),
    (gzip.compress(b"{}")[:-6], {"Content-Type": "application/json", "Content-Encoding": "gzip"}, "decompress"),
    (b"{}", {"Content-Type": "application/json", "Content-Encoding": "br"}, "Content-Encoding"),
    (b"{not json", {"Content-Type": "application/json"}, "Failed to parse OTel JSON"),
    (b"[1, 2]", {"Content-Type": "application/json"}, "Failed to parse OTel JSON"),
    (b'{"resourceSpans": [{"scopeSpans": {"a": 1}}]}', {"Content-Type": "application/json"}, "Failed to parse OTel"),
    (b'{"resourceSpans": []}', {"Content-Type": "application/json", "x-langfuse-ingestion-version": "5"},
     "Maximum supported"),
])
async def test_bad_requests_are_400_with_a_message(
    client: Client, project: TestProject, data: bytes, headers: dict[str, str], fragment: str
) -> None:
    response = await client.post(OTEL_PATH, data=data, headers={**project.basic, **headers})
    assert response.status_code == 400
    body = await response.get_json()
    assert fragment in body["message"], body


async def test_empty_export_is_200_and_auth_is_required(client: Client, project: TestProject) -> None:
    response = await client.post(OTEL_PATH, json={"resourceSpans": []}, headers=project.basic)
    assert response.status_code == 200 and await response.get_json() == {}
    protobuf = {**project.basic, "Content-Type": "application/x-protobuf"}
    response = await client.post(OTEL_PATH, data=b"", headers=protobuf)
    assert response.status_code == 200 and await response.get_data() == b""
    response = await client.post(OTEL_PATH, json={"resourceSpans": []})
    assert response.status_code == 401
    response = await client.post(OTEL_PATH, json={"resourceSpans": []}, headers=project.bearer)
    assert response.status_code == 401


async def test_bodies_over_16_mib_are_413_also_after_decompression(client: Client, project: TestProject) -> None:
    bomb = gzip.compress(b"\x00" * (16 * 1024 * 1024 + 1))
    response = await client.post(OTEL_PATH, data=bomb, headers={
        **project.basic, "Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"})
    assert response.status_code == 413 and "MiB" in (await response.get_json())["message"]
    response = await client.post(OTEL_PATH, data=b"\x00" * (16 * 1024 * 1024 + 1), headers={
        **project.basic, "Content-Type": "application/x-protobuf"})
    assert response.status_code == 413


async def test_ingestion_keeps_its_own_4_5_mb_limit(client: Client, project: TestProject) -> None:
    response = await client.post("/api/public/ingestion", data=b" " * 5_000_000,
                                 headers={**project.basic, "Content-Type": "application/json"})
    assert response.status_code == 413
