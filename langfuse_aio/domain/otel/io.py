"""Input and output of a span (ingestion spec §6.5, "Input/output precedence"); pure.

The first source that yields a value wins: Langfuse attributes; scope-specific ones (Vercel AI SDK,
Genkit); GenAI span events; framework attributes (Vertex ADK, Logfire, LiveKit, MLflow, OpenLLMetry,
OpenInference, Pydantic AI); flattened `gen_ai.prompt.<i>.*` / `llm.input_messages.*` keys; and the
`gen_ai.input.messages` / `gen_ai.output.messages` conventions. Values stay as sent (usually JSON text):
the merge stores strings verbatim and the read API parses them.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Sequence
from typing import Any, Final

from langfuse_aio.domain.otel import attributes as a
from langfuse_aio.domain.otel.spans import OtelEvent

IO = tuple[Any, Any]
_FRAMEWORK_PAIRS: Final = (
    ("mlflow.spanInputs", "mlflow.spanOutputs"), ("traceloop.entity.input", "traceloop.entity.output"),
    ("input.value", "output.value"), ("input", "output"),
)
# removed from `metadata.attributes`: they are the input/output
IO_KEYS: Final = frozenset({
    a.TRACE_INPUT, a.TRACE_OUTPUT, a.OBSERVATION_INPUT, a.OBSERVATION_OUTPUT, "ai.prompt.messages", "ai.prompt",
    "ai.toolCall.args", "ai.response.text", "ai.result.text", "ai.toolCall.result", "ai.response.object",
    "ai.result.object", "ai.response.toolCalls", "ai.result.toolCalls", "genkit:input", "genkit:output",
    "gcp.vertex.agent.llm_request", "gcp.vertex.agent.llm_response", "gcp.vertex.agent.tool_call_args",
    "gcp.vertex.agent.tool_response", "prompt", "all_messages_events", "events", "lk.input_text",
    "lk.user_transcript", "lk.chat_ctx", "lk.user_input", "lk.function_tool.output", "lk.response.text",
    "mlflow.spanInputs", "mlflow.spanOutputs", "traceloop.entity.input", "traceloop.entity.output", "input.value",
    "output.value", "final_result", "pydantic_ai.all_messages", "input", "output", "tool_arguments",
    "tool_response", "gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result", "gen_ai.system_instructions",
})
IO_PREFIXES: Final = ("gen_ai.prompt", "gen_ai.completion", "llm.input_messages", "llm.output_messages")
_INDEX = re.compile(r"^\d+$")


def filtered_attributes(attributes: dict[str, Any]) -> dict[str, str]:
    """The span attributes without input/output keys, each as text (for `metadata.attributes`)."""
    return {key: a.as_text(value) for key, value in attributes.items()
            if key not in IO_KEYS and not key.startswith(IO_PREFIXES)}


_MAX_INDEX: Final = 10_000


def _nested(attributes: dict[str, Any], prefix: str) -> Any:
    """`prefix.0.role=…, prefix.0.content=…` → `[{role, content}]` (an object when no key starts with
    an index); the value of `prefix` itself when that attribute is set."""
    if attributes.get(prefix):
        return attributes[prefix]
    items = [(key[len(prefix) + 1:].split("."), value) for key, value in attributes.items()
             if key.startswith(prefix + ".")]
    if not items:
        return None
    root: Any = [] if any(_INDEX.match(path[0]) for path, _ in items) else {}
    for path, value in items:
        _put(root, path, value)
    return root


def _put(node: Any, path: list[str], value: Any) -> None:
    for depth, part in enumerate(path):
        last = depth == len(path) - 1
        if isinstance(node, list):
            if not _INDEX.match(part) or int(part) > _MAX_INDEX:
                return
            slot: Any = int(part)
            node.extend(None for _ in range(slot + 1 - len(node)))
            child = node[slot]
        else:
            slot = part
            child = node.get(part)
        if last:
            node[slot] = value
            return
        if not isinstance(child, (dict, list)):
            child = [] if _INDEX.match(path[depth + 1]) else {}
            node[slot] = child
        node = child


def _event_attributes(events: Sequence[OtelEvent], name: str) -> dict[str, Any] | None:
    return next((dict(e.get("attributes") or {}) for e in events if e.get("name") == name), None)


def _vercel(attributes: dict[str, Any]) -> IO:
    source = next((k for k in ("ai.prompt.messages", "ai.prompt", "ai.toolCall.args") if k in attributes), None)
    input_value = attributes[source] if source else None
    if "ai.response.text" in attributes and "ai.response.toolCalls" in attributes:
        output = json.dumps({"role": "assistant", "content": attributes["ai.response.text"],
                             "tool_calls": attributes["ai.response.toolCalls"]})
        return input_value, output
    if a.truthy(attributes.get("ai.response.text")):
        return input_value, attributes["ai.response.text"]
    keys = ("ai.result.text", "ai.toolCall.result", "ai.response.object", "ai.result.object",
            "ai.response.toolCalls", "ai.result.toolCalls")
    return input_value, next((attributes[k] for k in keys if k in attributes), None)


def _genai_events(events: Sequence[OtelEvent]) -> IO | None:
    details = _event_attributes(events, "gen_ai.client.inference.operation.details")
    if details and (details.get("gen_ai.input.messages") or details.get("gen_ai.output.messages")):
        return details.get("gen_ai.input.messages"), details.get("gen_ai.output.messages")
    messages = [{"role": e["name"][len("gen_ai."):-len(".message")], **(e.get("attributes") or {})}
                for e in events if e.get("name") in ("gen_ai.system.message", "gen_ai.user.message",
                                                     "gen_ai.assistant.message", "gen_ai.tool.message")]
    choices = [dict(e.get("attributes") or {}) for e in events if e.get("name") == "gen_ai.choice"]
    if messages or choices:
        return messages or None, (choices[0] if len(choices) == 1 else choices or None)
    prompt, completion = (_event_attributes(events, n) for n in ("gen_ai.content.prompt", "gen_ai.content.completion"))
    if prompt or completion:
        return ((prompt or {}).get("gen_ai.prompt") or prompt or {},
                (completion or {}).get("gen_ai.completion") or completion or {})
    return None


def _frameworks(attributes: dict[str, Any], scope_name: str) -> IO | None:
    vertex_in = attributes.get("gcp.vertex.agent.llm_request")
    vertex_out = attributes.get("gcp.vertex.agent.llm_response")
    if not vertex_in or vertex_in == "{}":
        vertex_in = attributes.get("gcp.vertex.agent.tool_call_args")
    if not vertex_out or vertex_out == "{}":
        vertex_out = attributes.get("gcp.vertex.agent.tool_response")
    candidates: list[IO] = [
        (vertex_in, vertex_out),
        (attributes.get("prompt"), attributes.get("all_messages_events")),
        (attributes.get("lk.input_text") or attributes.get("lk.user_transcript") or attributes.get("lk.chat_ctx"),
         attributes.get("lk.function_tool.output") or attributes.get("lk.response.text")),
    ]
    for pair in candidates:
        if pair[0] or pair[1]:
            return pair
    logfire = _logfire_events(attributes.get("events"))
    if logfire is not None:
        return logfire
    for input_key, output_key in _FRAMEWORK_PAIRS:
        pair = (attributes.get(input_key), attributes.get(output_key))
        if pair[0] or pair[1]:
            return pair
    if scope_name == "pydantic-ai":
        pair = (attributes.get("pydantic_ai.all_messages"), attributes.get("final_result"))
        if pair[0] or pair[1]:
            return pair
    pair = (attributes.get("tool_arguments"), attributes.get("tool_response"))
    return pair if pair[0] or pair[1] else None


def _logfire_events(value: Any) -> IO | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if not isinstance(value, list):
        return None
    events = [e for e in value if isinstance(e, dict)]
    choice = next((e for e in events if e.get("event.name") == "gen_ai.choice"), None)
    inputs = [e for e in events if e.get("event.name") != "gen_ai.choice"]
    return (inputs or None, choice) if choice or inputs else None


def _with_system_instructions(messages: Any, instructions: Any) -> Any:
    if not instructions:
        return messages
    parsed = messages
    if isinstance(messages, str):
        try:
            parsed = json.loads(messages)
        except ValueError:
            return messages
    if not isinstance(parsed, list):
        return messages
    if any(isinstance(m, dict) and m.get("role") == "system" for m in parsed):
        return messages
    if isinstance(instructions, str):
        with contextlib.suppress(ValueError):
            instructions = json.loads(instructions)
    return [{"role": "system", "content": instructions}, *parsed]


def extract_io(attributes: dict[str, Any], events: Sequence[OtelEvent], scope_name: str, *, trace: bool = False) -> IO:
    """(input, output) of a span; for the trace of a root span (`trace=True`) the trace attributes first."""
    input_value = attributes.get(a.TRACE_INPUT) if trace else None
    output_value = attributes.get(a.TRACE_OUTPUT) if trace else None
    input_value = input_value or attributes.get(a.OBSERVATION_INPUT)
    output_value = output_value or attributes.get(a.OBSERVATION_OUTPUT)
    if input_value is not None or output_value is not None:
        return input_value, output_value
    if scope_name == "ai":
        return _vercel(attributes)
    if "genkit:input" in attributes or "genkit:output" in attributes:
        return attributes.get("genkit:input"), attributes.get("genkit:output")
    found = _genai_events(events) if events else None
    if found is None:
        found = _frameworks(attributes, scope_name)
    if found is not None:
        return found
    if any(key.startswith(("gen_ai.prompt", "gen_ai.completion")) for key in attributes):
        return _nested(attributes, "gen_ai.prompt"), _nested(attributes, "gen_ai.completion")
    if any(key.startswith(("llm.input_messages", "llm.output_messages")) for key in attributes):
        return _nested(attributes, "llm.input_messages"), _nested(attributes, "llm.output_messages")
    messages_in, messages_out = attributes.get("gen_ai.input.messages"), attributes.get("gen_ai.output.messages")
    if messages_in or messages_out:
        return _with_system_instructions(messages_in, attributes.get("gen_ai.system_instructions")), messages_out
    tool_in, tool_out = attributes.get("gen_ai.tool.call.arguments"), attributes.get("gen_ai.tool.call.result")
    if tool_in or tool_out:
        return tool_in, tool_out
    return None, None
