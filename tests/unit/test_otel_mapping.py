"""OTel spans → Langfuse ingestion events (langfuse_aio.domain.otel), on plain span dicts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from langfuse_aio.domain.otel import OtelResourceSpans, OtelSpan, convert_spans
from langfuse_aio.domain.otel.spans import span_times

T0 = 1_795_877_364_637_255_860  # ns; 2026-11-28T14:49:24.637Z
TRACE = "9d3a3d0ec2e05fc2bcb6a939e6a3133e"
ROOT, CHILD, GRANDCHILD = "7da82da443095433", "3fb406172f712846", "68b22778acd1f644"


def span(span_id: str, parent: str = "", name: str = "op", trace: str = TRACE, start: int = T0,
         end: int | None = None, **attributes: Any) -> OtelSpan:
    return {"traceId": trace, "spanId": span_id, "parentSpanId": parent, "name": name, "kind": 1,
            "startTimeUnixNano": start, "endTimeUnixNano": end if end is not None else start + 5_000_000,
            "attributes": {k.replace("__", "."): v for k, v in attributes.items()}, "status": {"code": 0}}


def request(*spans: OtelSpan, resource: dict[str, Any] | None = None, scope: str = "langfuse-sdk",
            scope_attributes: dict[str, Any] | None = None) -> list[OtelResourceSpans]:
    return [{"resource": resource or {"service.name": "svc"},
             "scopeSpans": [{"scope": {"name": scope, "version": "5.2.0", "attributes": scope_attributes or {}},
                             "spans": list(spans)}]}]


def convert(resource_spans: list[OtelResourceSpans]) -> Any:
    return convert_spans(resource_spans, now_ms=1_800_000_000_000)


def events_of(resource_spans: list[OtelResourceSpans]) -> tuple[dict[str, Any], dict[str, tuple[str, dict[str, Any]]]]:
    """(trace bodies by trace id, (event type, body) by observation id)."""
    result = convert(resource_spans)
    assert result.errors == [] and result.rejected_spans == 0, result.errors
    traces = {e.body["id"]: e.body for e in result.events if e.type == "trace-create"}
    assert len(traces) == len([e for e in result.events if e.type == "trace-create"]), "one trace event per trace"
    observations = {e.body["id"]: (e.type, e.body) for e in result.events if e.type != "trace-create"}
    return traces, observations


def test_times_are_truncated_to_milliseconds_and_fall_back_to_each_other() -> None:
    assert span_times(1_795_877_364_637_999_999, 0, 1) == ("2026-11-28T14:49:24.637Z", "2026-11-28T14:49:24.637Z")
    assert span_times(0, 1_795_877_364_638_000_000, 1) == ("2026-11-28T14:49:24.638Z",) * 2
    assert span_times(0, 0, 1_800_000_000_123) == ("2027-01-15T08:00:00.123Z",) * 2


def test_a_root_span_gives_a_full_trace_and_its_observation() -> None:
    traces, observations = events_of(request(span(
        ROOT, name="probe-root", end=T0 + 2_000_000_000, langfuse__observation__type="span",
        langfuse__observation__input='{"question": "2+2"}', langfuse__observation__output='{"answer": "4"}',
        langfuse__observation__metadata__env='"probe"', langfuse__environment="Langfuse-Probe_Env",
        langfuse__release="r1", langfuse__version="app-1")))
    trace = traces[TRACE]
    assert trace["name"] == "probe-root" and trace["timestamp"] == "2026-11-28T14:49:24.637Z"
    assert (trace["input"], trace["output"]) == ('{"question": "2+2"}', '{"answer": "4"}')
    assert (trace["release"], trace["version"], trace["environment"]) == ("r1", "app-1", "probe_env")
    kind, body = observations[ROOT]
    assert kind == "span-create" and body["traceId"] == TRACE and "parentObservationId" not in body
    assert body["endTime"] == "2026-11-28T14:49:26.637Z" and body["version"] == "app-1"
    assert body["metadata"]["env"] == '"probe"'  # kept as sent; the read API parses it
    assert body["metadata"]["resourceAttributes"] == {"service.name": "svc"}
    assert body["metadata"]["scope"] == {"name": "langfuse-sdk", "version": "5.2.0", "attributes": {}}
    assert "attributes" not in body["metadata"]  # Langfuse SDK spans do not repeat their attributes


def test_as_root_makes_a_root_without_parent_and_trace_attributes_fold_into_one_trace_event() -> None:
    root = span(ROOT, parent="d41b1a6849eb84b6", name="probe-root", langfuse__internal__as_root=True,
                user__id="user-42", session__id="sess-7", langfuse__trace__tags=["t1", "t2"],
                langfuse__trace__metadata__tenant='"acme"')
    child = span(CHILD, parent=ROOT, start=T0 + 1_000_000, user__id="user-42", session__id="sess-7",
                 langfuse__trace__name="probe-trace", langfuse__trace__tags=["t2", "t3"])
    traces, observations = events_of(request(child, root))  # children are exported first
    trace = traces[TRACE]
    assert trace["name"] == "probe-trace"  # the later span's explicit name wins over the root's span name
    assert (trace["userId"], trace["sessionId"]) == ("user-42", "sess-7")
    assert trace["tags"] == ["t1", "t2", "t3"] and trace["metadata"]["tenant"] == '"acme"'
    assert trace["timestamp"] == "2026-11-28T14:49:24.637Z"  # the root's start, the earliest
    assert "parentObservationId" not in observations[ROOT][1]
    assert observations[CHILD][1]["parentObservationId"] == ROOT


def test_a_trace_without_root_or_trace_attributes_gets_a_shallow_trace_event() -> None:
    traces, _ = events_of(request(span(GRANDCHILD, parent=CHILD, start=T0 + 9_000_000),
                                  span(CHILD, parent=ROOT, start=T0, langfuse__environment="staging")))
    assert traces[TRACE] == {"id": TRACE, "timestamp": "2026-11-28T14:49:24.637Z", "environment": "staging"}


def test_environment_release_and_version_fall_back_to_the_resource() -> None:
    resource = {"deployment.environment.name": "prod", "langfuse.release": "r9", "service.version": "1.2.3"}
    traces, observations = events_of(request(span(ROOT), resource=resource))
    assert (traces[TRACE]["environment"], traces[TRACE]["release"], traces[TRACE]["version"]) == ("prod", "r9", "1.2.3")
    assert observations[ROOT][1]["environment"] == "prod"
    traces, _ = events_of(request(span(ROOT, deployment__environment="dev"), resource=resource))
    assert traces[TRACE]["environment"] == "prod"  # key order first: resource `deployment.environment.name`


def test_a_langfuse_generation_maps_model_parameters_usage_cost_and_prompt() -> None:
    _, observations = events_of(request(span(
        GRANDCHILD, parent=CHILD, name="llm-call", langfuse__observation__type="generation",
        langfuse__observation__model__name="gpt-4o",
        langfuse__observation__model__parameters='{"temperature": 0.2, "max_tokens": 50, "stop": ["x"]}',
        langfuse__observation__usage_details='{"input": 12, "output": 3, "total": 15}',
        langfuse__observation__cost_details='{"input": 0.0001, "output": 0.0002}',
        langfuse__observation__completion_start_time='"2026-11-28T14:49:24.637178Z"',
        langfuse__observation__prompt__name="qa", langfuse__observation__prompt__version=3,
        langfuse__observation__level="warn", langfuse__observation__status_message="slow")))
    kind, body = observations[GRANDCHILD]
    assert kind == "generation-create" and body["model"] == "gpt-4o"
    assert body["modelParameters"] == {"temperature": 0.2, "max_tokens": 50, "stop": '["x"]'}
    assert body["usageDetails"] == {"input": 12, "output": 3, "total": 15}
    assert body["costDetails"] == {"input": 0.0001, "output": 0.0002}
    assert body["completionStartTime"] == "2026-11-28T14:49:24.637178Z"
    assert (body["promptName"], body["promptVersion"]) == ("qa", 3)
    assert (body["level"], body["statusMessage"]) == ("WARNING", "slow")


@pytest.mark.parametrize(("declared", "event_type"), [
    ("tool", "tool-create"), ("agent", "agent-create"), ("chain", "chain-create"), ("retriever", "retriever-create"),
    ("evaluator", "evaluator-create"), ("embedding", "embedding-create"), ("guardrail", "guardrail-create"),
    ("event", "event-create"), ("nonsense", "span-create"),
])
def test_langfuse_observation_types(declared: str, event_type: str) -> None:
    _, observations = events_of(request(span(CHILD, parent=ROOT, langfuse__observation__type=declared)))
    assert observations[CHILD][0] == event_type


def test_plain_opentelemetry_genai_span_becomes_a_generation_with_usage() -> None:
    attributes = {
        "gen_ai.operation.name": "chat", "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18", "gen_ai.request.temperature": 0.3,
        "gen_ai.request.max_tokens": 200, "gen_ai.usage.input_tokens": 120, "gen_ai.usage.output_tokens": 40,
        "gen_ai.usage.cache_read_input_tokens": 20, "gen_ai.usage.cost": 0.0042,
        "gen_ai.input.messages": '[{"role": "user", "content": "hi"}]',
        "gen_ai.output.messages": '[{"role": "assistant", "content": "hello"}]',
        "gen_ai.system_instructions": '"be brief"', "http.route": "/chat",
    }
    root = span(ROOT, name="chat gpt-4o-mini")
    root["attributes"] = attributes
    traces, observations = events_of(request(root, scope="my-app"))
    kind, body = observations[ROOT]
    assert kind == "generation-create" and body["model"] == "gpt-4o-mini-2024-07-18"  # response model first
    assert body["modelParameters"] == {"temperature": 0.3, "max_tokens": 200}
    assert body["usageDetails"] == {"input": 100, "output": 40, "input_cached_tokens": 20}
    assert body["costDetails"] == {"total": 0.0042}
    assert body["input"] == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    assert body["output"] == '[{"role": "assistant", "content": "hello"}]'
    assert body["metadata"]["attributes"]["http.route"] == "/chat"  # other scopes keep their attributes...
    assert "gen_ai.input.messages" not in body["metadata"]["attributes"]  # ...minus the input/output
    assert traces[TRACE]["name"] == "chat gpt-4o-mini"


def test_openinference_llm_span() -> None:
    root = span(ROOT, name="ChatOpenAI")
    root["attributes"] = {
        "openinference.span.kind": "LLM", "llm.model_name": "gpt-4o", "llm.invocation_parameters": '{"temperature": 0}',
        "llm.token_count.prompt": 10, "llm.token_count.completion": 5, "llm.token_count.total": 15,
        "llm.input_messages.0.message.role": "user", "llm.input_messages.0.message.content": "hi",
        "llm.output_messages.0.message.role": "assistant", "llm.output_messages.0.message.content": "yo",
    }
    _, observations = events_of(request(root, scope="openinference.instrumentation.langchain"))
    kind, body = observations[ROOT]
    assert kind == "generation-create" and body["model"] == "gpt-4o"
    assert body["modelParameters"] == {"temperature": 0}
    assert body["usageDetails"] == {"input": 10, "output": 5, "total": 15}
    assert body["input"] == [{"message": {"role": "user", "content": "hi"}}]
    assert body["output"] == [{"message": {"role": "assistant", "content": "yo"}}]


def test_openinference_chain_uses_input_value() -> None:
    root = span(ROOT)
    root["attributes"] = {"openinference.span.kind": "CHAIN", "input.value": '{"q": 1}', "output.value": "done"}
    _, observations = events_of(request(root, scope="openinference"))
    kind, body = observations[ROOT]
    assert kind == "chain-create" and (body["input"], body["output"]) == ('{"q": 1}', "done")


def test_openllmetry_flattened_prompt_and_completion() -> None:
    root = span(ROOT, name="openai.chat")
    root["attributes"] = {
        "llm.request.type": "chat", "gen_ai.request.model": "gpt-4", "gen_ai.prompt.0.role": "system",
        "gen_ai.prompt.0.content": "be brief", "gen_ai.prompt.1.role": "user", "gen_ai.prompt.1.content": "hi",
        "gen_ai.completion.0.role": "assistant", "gen_ai.completion.0.content": "hello",
        "gen_ai.usage.prompt_tokens": 7, "gen_ai.usage.completion_tokens": 2, "llm.usage.total_tokens": 9,
    }
    _, observations = events_of(request(root, scope="opentelemetry.instrumentation.openai.v1"))
    kind, body = observations[ROOT]
    assert kind == "generation-create" and body["model"] == "gpt-4"  # model-based rule
    assert body["input"] == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    assert body["output"] == [{"role": "assistant", "content": "hello"}]
    assert body["usageDetails"] == {"input": 7, "output": 2}


def test_agent_spans_carry_no_model_or_usage() -> None:
    root = span(ROOT)
    root["attributes"] = {"gen_ai.operation.name": "invoke_agent", "gen_ai.request.model": "gpt-4o",
                          "gen_ai.usage.input_tokens": 100}
    _, observations = events_of(request(root, scope="agents"))
    kind, body = observations[ROOT]
    assert kind == "agent-create" and "model" not in body and "usageDetails" not in body


def test_error_status_sets_level_and_message() -> None:
    root = span(ROOT)
    root["status"] = {"code": 2, "message": "boom"}
    _, observations = events_of(request(root))
    assert (observations[ROOT][1]["level"], observations[ROOT][1]["statusMessage"]) == ("ERROR", "boom")


@pytest.mark.parametrize(("value", "expected"), [
    (["a", "b"], ["a", "b"]), ('["a", "b"]', ["a", "b"]), ("a, b ,c", ["a", "b", "c"]), ("solo", ["solo"]),
])
def test_tags_in_every_accepted_shape(value: Any, expected: list[str]) -> None:
    traces, _ = events_of(request(span(ROOT, langfuse__trace__tags=value)))
    assert traces[TRACE]["tags"] == expected


def test_user_and_session_fall_back_through_their_keys() -> None:
    traces, _ = events_of(request(span(ROOT, **{"gen_ai.conversation.id": "conv-1",
                                                "langfuse.observation.metadata.langfuse_user_id": 42})))
    assert (traces[TRACE]["sessionId"], traces[TRACE]["userId"]) == ("conv-1", "42")


def test_spans_without_ids_are_rejected_and_the_rest_kept() -> None:
    result = convert(request(span("", name="no-id"), span(ROOT)))
    assert (result.spans, result.rejected_spans) == (2, 1)
    assert "no-id" in result.error_message() and "spanId" in result.error_message()
    assert {e.body["id"] for e in result.events} == {ROOT, TRACE}


def test_an_invalid_trace_event_is_reported_but_its_spans_kept() -> None:
    result = convert(request(span(ROOT, langfuse__trace__name="x" * 1001)))
    assert result.rejected_spans == 0 and [e.type for e in result.events] == ["span-create"]
    assert "trace 9d3a" in result.error_message() and "1000 characters" in result.error_message()


def test_recorded_js_sample_maps_like_langfuse() -> None:
    from tests.unit.otel_samples import js_sample_spans

    traces, observations = events_of(js_sample_spans())
    (trace,) = traces.values()
    assert trace["name"] == "probe-trace" and trace["input"] == '{"question":"What is 2+2?"}'
    assert {k: v for k, v in trace["metadata"].items() if k == "tenant"} == {"tenant": "acme"}
    kinds = {body["name"]: kind for kind, body in observations.values()}
    assert kinds == {"cache-hit": "event-create", "llm-call": "generation-create", "retrieve": "span-create",
                     "probe-root": "span-create"}
    generation = next(body for kind, body in observations.values() if kind == "generation-create")
    assert json.loads(generation["input"])[1]["content"] == "What is 2+2?"


def test_envelope_ids_derive_from_the_spans_so_a_retried_request_repeats_them() -> None:
    spans = request(span(CHILD, parent=ROOT, user__id="u"), span(ROOT))
    first, again = convert(spans), convert(spans)
    assert [e.id for e in first.events] == [e.id for e in again.events]
    assert {e.id for e in first.events} == {f"otel-{CHILD}", f"otel-{ROOT}", f"otel-{TRACE}-{CHILD}"}


def test_folded_trace_takes_later_spans_values_and_the_earliest_start() -> None:
    late_a = span(GRANDCHILD, parent=CHILD, start=T0 + 9_000_000, langfuse__trace__name="a", user__id="u")
    middle_b = span(CHILD, parent=ROOT, start=T0 + 5_000_000, langfuse__trace__name="b", user__id="u")
    early_a = span("0000000000000001", parent=ROOT, start=T0 + 1_000_000, langfuse__trace__name="a", user__id="u")
    traces, _ = events_of(request(late_a, middle_b, early_a))
    assert traces[TRACE]["name"] == "a"  # the latest span says "a", whatever the export order
    assert traces[TRACE]["timestamp"] == "2026-11-28T14:49:24.638Z"  # the earliest of them
    traces, _ = events_of(request(early_a, late_a, middle_b))
    assert traces[TRACE]["name"] == "a"
