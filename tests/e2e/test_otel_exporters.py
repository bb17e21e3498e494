"""OpenTelemetry ingestion against the real `langfuse-aio` process: the official Python SDK 5.x (its
own environment, tests/support/sdk5.py), a plain opentelemetry-sdk OTLP exporter with GenAI
attributes, and the recorded JS OTLP/JSON request sent chunked. Everything is read back through the
read API (v1 traces here, the v5 client's v2 observations and v3 scores in the SDK's environment)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_process import auth
from tests.support.external import free_port
from tests.support.otlp import OTEL_PATH, sample_body
from tests.support.sdk5 import run_sdk5_script
from tests.support.server import Server, kill_leftovers
from tests.support.waiting import eventually_sync

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

PUBLIC_KEY, SECRET_KEY = "pk-lf-otel-e2e", "sk-lf-otel-e2e"
INIT = {
    "LANGFUSE_INIT_ORG_ID": "otel-org", "LANGFUSE_INIT_PROJECT_ID": "otel-project",
    "LANGFUSE_INIT_PROJECT_PUBLIC_KEY": PUBLIC_KEY, "LANGFUSE_INIT_PROJECT_SECRET_KEY": SECRET_KEY,
}
AUTH = auth(PUBLIC_KEY, SECRET_KEY)
RUN = uuid.uuid4().hex[:8]
SCRIPT = Path(__file__).with_name("sdk5_otel_calls.py")



@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("otel") / "data"
    srv = Server(data_dir, free_port(), INIT)
    try:
        srv.wait_healthy()
        yield srv
    finally:
        srv.stop()
        kill_leftovers(data_dir)


def get_trace(server: Server, trace_id: str) -> dict[str, Any]:
    response = httpx.get(f"{server.url}/api/public/traces/{trace_id}", headers=AUTH, timeout=10)
    return response.json() if response.status_code == 200 else {"observations": [], "scores": []}


def by_name(trace: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["name"]: o for o in trace["observations"]}


def test_python_sdk_5_traces_scores_and_reads(server: Server) -> None:
    written = run_sdk5_script(SCRIPT, "write", server.url, PUBLIC_KEY, SECRET_KEY, RUN)
    assert written["auth_check"] is True
    trace_id, ids = written["trace_id"], written["ids"]
    trace = eventually_sync(lambda: get_trace(server, trace_id),
                       lambda t: len(t["observations"]) == 5 and len(t["scores"]) == 2 and t.get("output"))
    assert trace["name"] == "sdk5-trace" and trace["version"] == "v5" and trace["release"] == "rel-1"
    assert (trace["userId"], trace["sessionId"]) == (f"user-{RUN}", f"session-{RUN}")
    assert sorted(trace["tags"]) == ["otel", "sdk5"] and trace["metadata"]["tenant"] == "acme"
    assert trace["environment"] == "sdk5-env"
    assert trace["input"] == {"question": "2+2?"} and trace["output"] == {"answer": "4"}

    observations = by_name(trace)
    assert {name: o["id"] for name, o in observations.items()} == ids
    request = observations["request"]
    assert request["type"] == "SPAN" and request["parentObservationId"] is None  # trace_context: as_root
    assert request["metadata"]["step"] == 1
    assert observations["retrieve"]["type"] == "RETRIEVER" and observations["retrieve"]["parentObservationId"] == ids[
        "request"]
    assert observations["retrieve"]["output"] == {"docs": ["a", "b"]}
    llm = observations["llm"]
    assert llm["type"] == "GENERATION" and llm["parentObservationId"] == ids["retrieve"] and llm["model"] == "gpt-4o"
    assert llm["usageDetails"] == {"input": 10, "output": 5, "total": 15}
    assert llm["costDetails"]["total"] == pytest.approx(0.003)
    assert llm["modelParameters"] == {"temperature": 0.1}
    assert llm["completionStartTime"] == "2026-01-02T03:04:05.678Z"
    assert llm["output"] == {"role": "assistant", "content": "4"}
    assert observations["calc"]["type"] == "TOOL" and observations["calc"]["output"] == 4
    assert observations["cache-hit"]["type"] == "EVENT" and observations["cache-hit"]["level"] == "DEBUG"
    assert {o["environment"] for o in trace["observations"]} == {"sdk5-env"}
    scores = {s["name"]: s for s in trace["scores"]}
    assert scores["quality"]["value"] == pytest.approx(0.9)
    assert scores["correct"]["observationId"] == ids["llm"] and scores["correct"]["dataType"] == "BOOLEAN"

    decorated_id = written["decorated"]["trace_id"]
    decorated = eventually_sync(lambda: get_trace(server, decorated_id), lambda t: len(t["observations"]) == 2)
    assert decorated["name"] == "deco-root" and decorated["userId"] == f"deco-user-{RUN}"
    assert decorated["tags"] == ["deco"] and decorated["output"] == {"value": 42, "trace_id": decorated_id}
    deco_llm = by_name(decorated)["deco-llm"]
    assert deco_llm["model"] == "gpt-4o-mini" and deco_llm["usageDetails"]["input"] == 3

    session = eventually_sync(lambda: httpx.get(f"{server.url}/api/public/sessions/session-{RUN}", headers=AUTH).json(),
                         lambda s: [t["id"] for t in s.get("traces", [])] == [trace_id])
    assert session["id"] == f"session-{RUN}"

    read = run_sdk5_script(SCRIPT, "read", server.url, PUBLIC_KEY, SECRET_KEY, trace_id)
    v2 = {o["name"]: o for o in read["observations"]}
    assert set(v2) == set(ids)
    assert v2["llm"]["type"] == "GENERATION" and v2["llm"]["providedModelName"] == "gpt-4o"
    assert v2["calc"]["type"] == "TOOL" and v2["llm"]["traceId"] == trace_id
    assert {s["name"] for s in read["scores"]} == {"quality", "correct"}


def test_plain_opentelemetry_exporter_with_genai_attributes_makes_a_generation(server: Server) -> None:
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult

    results: list[SpanExportResult] = []

    class Recording(OTLPSpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            results.append(super().export(spans))
            return results[-1]

    exporter = Recording(endpoint=server.url + OTEL_PATH, headers=AUTH, compression=Compression.Gzip)
    provider = TracerProvider(resource=Resource.create({"service.name": "plain-app",
                                                        "deployment.environment.name": "staging"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("my.instrumentation", "1.0")
    with tracer.start_as_current_span("agent-run") as root:
        root.set_attribute("user.id", f"plain-user-{RUN}")
        with tracer.start_as_current_span("chat gpt-4o-mini") as llm:
            llm.set_attributes({
                "gen_ai.operation.name": "chat", "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.request.temperature": 0.3, "gen_ai.request.max_tokens": 100,
                "gen_ai.usage.input_tokens": 120, "gen_ai.usage.output_tokens": 40,
                "gen_ai.input.messages": json.dumps([{"role": "user", "content": "hi"}]),
                "gen_ai.output.messages": json.dumps([{"role": "assistant", "content": "hello"}]),
            })
        trace_id = format(root.get_span_context().trace_id, "032x")
    provider.shutdown()
    assert results and all(r is SpanExportResult.SUCCESS for r in results)
    assert isinstance(root, ReadableSpan)

    trace = eventually_sync(lambda: get_trace(server, trace_id),
                       lambda t: len(t["observations"]) == 2 and t.get("name") == "agent-run")
    assert trace["userId"] == f"plain-user-{RUN}" and trace["environment"] == "staging"
    generation = by_name(trace)["chat gpt-4o-mini"]
    assert generation["type"] == "GENERATION" and generation["model"] == "gpt-4o-mini"
    assert generation["usageDetails"] == {"input": 120, "output": 40, "total": 160}
    assert generation["modelParameters"] == {"temperature": 0.3, "max_tokens": 100}
    assert generation["input"] == [{"role": "user", "content": "hi"}]
    assert generation["metadata"]["scope"]["name"] == "my.instrumentation"
    assert generation["metadata"]["attributes"]["gen_ai.system"] == "openai"
    assert by_name(trace)["agent-run"]["type"] == "SPAN"


def test_recorded_js_otlp_json_request_sent_chunked(server: Server) -> None:
    body = sample_body("js-otel-5.11.1-otlp-traces.json")
    trace_id = "011a575590a16437d8e5c4948472a649"[:-8] + RUN
    for rs in body["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                span["traceId"] = trace_id
    raw = json.dumps(body).encode()

    def chunks() -> Iterator[bytes]:  # no Content-Length: Transfer-Encoding: chunked, as the JS exporter sends
        for start in range(0, len(raw), 1000):
            yield raw[start:start + 1000]

    response = httpx.post(server.url + OTEL_PATH, content=chunks(), timeout=10, headers={
        **AUTH, "Content-Type": "application/json", "x-langfuse-sdk-name": "javascript",
        "x-langfuse-sdk-version": "5.11.1"})
    assert response.status_code == 200 and response.json() == {}
    assert response.request.headers.get("transfer-encoding") == "chunked"
    trace = eventually_sync(lambda: get_trace(server, trace_id), lambda t: len(t["observations"]) == 4)
    assert trace["name"] == "probe-trace" and trace["userId"] == "user-42"
    assert by_name(trace)["llm-call"]["usageDetails"] == {"input": 12, "output": 3, "total": 15}
