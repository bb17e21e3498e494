"""The observation type of a span (ingestion spec §6.5, "Observation type"); pure.

Mappers in Langfuse's priority order; the first that applies and names a known type wins, SPAN
otherwise: Python SDK ≤ 3.3 generations sent as spans, `langfuse.observation.type`, OpenInference
`openinference.span.kind`, `gen_ai.operation.name`, Vercel AI SDK operations, GenAI tool attributes,
and finally any model attribute (→ GENERATION). Genkit, Flue and LiveKit span-name rules are not
implemented.
"""

from __future__ import annotations

from typing import Any, Final

from langfuse_aio.domain.otel import attributes as a

_GENERATION_MODEL_KEYS: Final = (
    a.OBSERVATION_MODEL, "gen_ai.request.model", "gen_ai.response.model", "llm.model_name", "model",
)
_LANGFUSE_TYPES: Final = frozenset({
    "span", "generation", "event", "agent", "tool", "chain", "retriever", "evaluator", "embedding", "guardrail",
})
_OPENINFERENCE_KINDS: Final = {
    "LLM": "GENERATION", "CHAIN": "CHAIN", "RETRIEVER": "RETRIEVER", "EMBEDDING": "EMBEDDING", "AGENT": "AGENT",
    "TOOL": "TOOL", "GUARDRAIL": "GUARDRAIL", "EVALUATOR": "EVALUATOR",
}
_GENAI_OPERATIONS: Final = {
    "chat": "GENERATION", "completion": "GENERATION", "text_completion": "GENERATION",
    "generate_content": "GENERATION", "generate": "GENERATION", "embeddings": "EMBEDDING",
    "invoke_agent": "AGENT", "create_agent": "AGENT", "execute_tool": "TOOL",
}
_VERCEL_GENERATION: Final = ("ai.generateText.doGenerate", "ai.streamText.doStream", "ai.generateObject.doGenerate",
                             "ai.streamObject.doStream")
_VERCEL_EMBEDDING: Final = ("ai.embedMany.doEmbed", "ai.embed.doEmbed")
_PY_SDK_GENERATION_KEYS: Final = frozenset({
    a.OBSERVATION_MODEL, a.OBSERVATION_COST_DETAILS, a.OBSERVATION_USAGE_DETAILS,
    a.OBSERVATION_COMPLETION_START_TIME, a.OBSERVATION_MODEL_PARAMETERS, a.OBSERVATION_PROMPT_NAME,
    a.OBSERVATION_PROMPT_VERSION,
})


def _vercel_operation(attributes: dict[str, Any], names: tuple[str, ...]) -> bool:
    operation, operation_id = attributes.get("operation.name"), attributes.get("ai.operationId")
    return (isinstance(operation, str) and operation.startswith(names)) or operation_id in names


def _old_python_sdk_generation(attributes: dict[str, Any], resource: dict[str, Any], scope: dict[str, Any]) -> bool:
    """Python SDK ≤ 3.3 sent generations as `type=span`; they are known by their generation attributes."""
    if attributes.get(a.OBSERVATION_TYPE) != "span" or scope.get("name") != a.LANGFUSE_SCOPE_PREFIX:
        return False
    if resource.get("telemetry.sdk.language") != "python":
        return False
    major_minor = str(scope.get("version") or "").split(".")[:2]
    if len(major_minor) == 2 and all(part.isdigit() for part in major_minor):
        major, minor = int(major_minor[0]), int(major_minor[1])
        if major > 3 or (major == 3 and minor > 3):
            return False
    return not _PY_SDK_GENERATION_KEYS.isdisjoint(attributes)


def observation_type(attributes: dict[str, Any], resource: dict[str, Any], scope: dict[str, Any]) -> str:
    """The first mapper, by priority, that applies and names a known type; SPAN otherwise."""
    if _old_python_sdk_generation(attributes, resource, scope):
        return "GENERATION"
    declared = attributes.get(a.OBSERVATION_TYPE)
    if isinstance(declared, str) and declared in _LANGFUSE_TYPES:
        return declared.upper()
    for key, table in (("openinference.span.kind", _OPENINFERENCE_KINDS), ("gen_ai.operation.name", _GENAI_OPERATIONS)):
        value = attributes.get(key)
        if isinstance(value, str) and value in table:
            return table[value]
    if any(a.truthy(attributes.get(k)) for k in (a.OBSERVATION_MODEL, "ai.model.id", "gen_ai.request.model",
                                                  "gen_ai.response.model")):
        if _vercel_operation(attributes, _VERCEL_GENERATION):
            return "GENERATION"
        if _vercel_operation(attributes, _VERCEL_EMBEDDING):
            return "EMBEDDING"
    if _vercel_operation(attributes, ("ai.toolCall",)):
        return "TOOL"
    if a.truthy(attributes.get("gen_ai.tool.name")) or a.truthy(attributes.get("gen_ai.tool.call.id")):
        return "TOOL"
    if any(a.truthy(attributes.get(key)) for key in _GENERATION_MODEL_KEYS):
        return "GENERATION"
    return "SPAN"
