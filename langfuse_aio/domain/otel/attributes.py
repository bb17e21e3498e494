"""Langfuse's span attributes (ingestion spec §6.4) and the trace-level values read from them; pure.

Every reader takes the span's plain attribute dict (see `spans`). "First truthy" follows JavaScript:
None, "", 0 and False do not count.
"""

from __future__ import annotations

import json
from typing import Any, Final

# -- attribute names --------------------------------------------------------------------------------
TRACE_NAME: Final = "langfuse.trace.name"
TRACE_TAGS: Final = "langfuse.trace.tags"
TRACE_PUBLIC: Final = "langfuse.trace.public"
TRACE_METADATA: Final = "langfuse.trace.metadata"
TRACE_INPUT: Final = "langfuse.trace.input"
TRACE_OUTPUT: Final = "langfuse.trace.output"
OBSERVATION_TYPE: Final = "langfuse.observation.type"
OBSERVATION_LEVEL: Final = "langfuse.observation.level"
OBSERVATION_STATUS_MESSAGE: Final = "langfuse.observation.status_message"
OBSERVATION_INPUT: Final = "langfuse.observation.input"
OBSERVATION_OUTPUT: Final = "langfuse.observation.output"
OBSERVATION_METADATA: Final = "langfuse.observation.metadata"
OBSERVATION_MODEL: Final = "langfuse.observation.model.name"
OBSERVATION_MODEL_PARAMETERS: Final = "langfuse.observation.model.parameters"
OBSERVATION_USAGE_DETAILS: Final = "langfuse.observation.usage_details"
OBSERVATION_COST_DETAILS: Final = "langfuse.observation.cost_details"
OBSERVATION_COMPLETION_START_TIME: Final = "langfuse.observation.completion_start_time"
OBSERVATION_PROMPT_NAME: Final = "langfuse.observation.prompt.name"
OBSERVATION_PROMPT_VERSION: Final = "langfuse.observation.prompt.version"
ENVIRONMENT: Final = "langfuse.environment"
RELEASE: Final = "langfuse.release"
VERSION: Final = "langfuse.version"
AS_ROOT: Final = "langfuse.internal.as_root"

LANGFUSE_SCOPE_PREFIX: Final = "langfuse-sdk"

_USER_ID_KEYS: Final = (
    "langfuse.user.id", "user.id", f"{OBSERVATION_METADATA}.langfuse_user_id", f"{TRACE_METADATA}.langfuse_user_id",
    "ai.telemetry.metadata.userId",
)
_SESSION_ID_KEYS: Final = (
    "langfuse.session.id", "session.id", "gen_ai.conversation.id", f"{OBSERVATION_METADATA}.langfuse_session_id",
    f"{TRACE_METADATA}.langfuse_session_id", "ai.telemetry.metadata.sessionId",
)
_TAG_KEYS: Final = (
    TRACE_TAGS, "langfuse.tags", f"{OBSERVATION_METADATA}.langfuse_tags", f"{TRACE_METADATA}.langfuse_tags",
    "ai.telemetry.metadata.tags", "tag.tags",
)
# any of these (truthy) makes a span carry trace-level updates; so does any `langfuse.trace.metadata*` key
_TRACE_UPDATE_KEYS: Final = (
    TRACE_NAME, TRACE_INPUT, TRACE_OUTPUT, TRACE_PUBLIC, TRACE_TAGS, "langfuse.user.id", "langfuse.session.id",
    "user.id", "session.id",
    f"{OBSERVATION_METADATA}.langfuse_user_id", f"{OBSERVATION_METADATA}.langfuse_session_id",
    f"{OBSERVATION_METADATA}.langfuse_tags",
    "ai.telemetry.metadata.sessionId", "ai.telemetry.metadata.userId", "ai.telemetry.metadata.tags", "tag.tags",
)
_TRACE_UPDATE_SET: Final = frozenset(_TRACE_UPDATE_KEYS)
_ENVIRONMENT_KEYS: Final = (ENVIRONMENT, "deployment.environment.name", "deployment.environment")
_VERCEL_TRACE_KEYS: Final = frozenset({
    "ai.telemetry.metadata.userId", "ai.telemetry.metadata.sessionId", "ai.telemetry.metadata.tags",
    "ai.telemetry.metadata.langfusePrompt",
})
_LEVEL_ALIASES: Final = {
    "DEBUG": "DEBUG", "TRACE": "DEBUG", "VERBOSE": "DEBUG",
    "DEFAULT": "DEFAULT", "INFO": "DEFAULT", "LOG": "DEFAULT", "NOTICE": "DEFAULT", "OK": "DEFAULT",
    "SUCCESS": "DEFAULT",
    "WARNING": "WARNING", "WARN": "WARNING",
    "ERROR": "ERROR", "FATAL": "ERROR", "CRITICAL": "ERROR",
}
STATUS_ERROR: Final = 2


def truthy(value: Any) -> bool:
    return value is not None and value is not False and value not in ("", 0)


def as_text(value: Any) -> str:
    """Strings as they are; anything else as JSON text."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def first_text(attributes: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = attributes.get(key)
        if truthy(value):
            return as_text(value)
    return None


def user_id(attributes: dict[str, Any]) -> str | None:
    return first_text(attributes, _USER_ID_KEYS)


def session_id(attributes: dict[str, Any]) -> str | None:
    return first_text(attributes, _SESSION_ID_KEYS)


def tags(attributes: dict[str, Any]) -> list[str]:
    """A string array, a JSON-array string, a comma-separated string (items trimmed) or one string."""
    value = next((attributes[key] for key in _TAG_KEYS if truthy(attributes.get(key))), None)
    if value is None:
        return []
    if isinstance(value, list):
        return [as_text(tag) for tag in value]
    if not isinstance(value, str):
        return [as_text(value)]
    if value.strip().startswith("["):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if isinstance(parsed, list):
            return [as_text(tag) for tag in parsed]
    if "," in value:
        return [tag.strip() for tag in value.split(",")]
    return [value]


def public(attributes: dict[str, Any]) -> bool | None:
    value = attributes.get(TRACE_PUBLIC, attributes.get("langfuse.public"))
    return None if value is None else value is True or value == "true"


def environment(attributes: dict[str, Any], resource: dict[str, Any]) -> str:
    """The first of the environment keys, span before resource for each key; normalised by validation."""
    for key in _ENVIRONMENT_KEYS:
        for source in (attributes, resource):
            value = source.get(key)
            if truthy(value):
                return as_text(value)
    return "default"


def release(attributes: dict[str, Any], resource: dict[str, Any]) -> str | None:
    value = attributes.get(RELEASE) or resource.get(RELEASE)
    return None if value is None else as_text(value)


def version(attributes: dict[str, Any], resource: dict[str, Any]) -> str | None:
    value = attributes.get(VERSION) or resource.get("service.version")
    return None if value is None else as_text(value)


def is_root(parent_span_id: str, attributes: dict[str, Any]) -> bool:
    as_root = attributes.get(AS_ROOT)
    return not parent_span_id or as_root is True or as_root == "true"


def has_trace_updates(attributes: dict[str, Any]) -> bool:
    """Does the span carry trace-level attributes (one of the update keys, truthy, or trace metadata)?"""
    for key, value in attributes.items():
        if (key in _TRACE_UPDATE_SET and truthy(value)) or key.startswith(TRACE_METADATA):
            return True
    return False


def metadata(attributes: dict[str, Any], domain: str) -> dict[str, Any]:
    """`langfuse.{domain}.metadata` (a JSON object, or `langfuse.metadata`) plus one key per
    `langfuse.{domain}.metadata.<key>` / `langfuse.metadata.<key>` / `ai.telemetry.metadata.<key>` attribute.
    Values are kept as sent (py 5 sends JSON text, JS raw strings): the read API parses them."""
    prefix = OBSERVATION_METADATA if domain == "observation" else TRACE_METADATA
    out: dict[str, Any] = {}
    whole = attributes.get(prefix) or attributes.get("langfuse.metadata")
    if isinstance(whole, str):
        try:
            parsed = json.loads(whole)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            out.update(parsed)
    prefixes = (prefix + ".", "langfuse.metadata.", "ai.telemetry.metadata.")
    for key, value in attributes.items():
        # the substring test first: it is cheap and rules out almost every attribute
        if ".metadata." in key and key.startswith(prefixes) and key not in _VERCEL_TRACE_KEYS:
            out[key.split(".metadata.", 1)[1]] = value
    tools = attributes.get("ai.prompt.tools")
    if tools:
        out["tools"] = tools
    return out


def observation_name(span_name: str, attributes: dict[str, Any]) -> str:
    """gen_ai.tool.name, genkit:name, logfire.msg, ai.toolCall.name, Vercel functionId:operationId,
    else the span name."""
    for key in ("gen_ai.tool.name", "genkit:name", "logfire.msg"):
        value = attributes.get(key)
        if truthy(value):
            return as_text(value)
    if "ai.toolCall.name" in attributes:
        return as_text(attributes["ai.toolCall.name"])
    if "ai.operationId" in attributes:
        function_id = attributes.get("ai.telemetry.functionId")
        prefix = f"{as_text(function_id)}:" if truthy(function_id) else ""
        return prefix + as_text(attributes["ai.operationId"])
    return span_name


def level(attributes: dict[str, Any], status_code: int) -> str:
    """The Langfuse level or one of its aliases; an unknown or absent one: ERROR for an error status."""
    value = attributes.get(OBSERVATION_LEVEL)
    if isinstance(value, str):
        mapped = _LEVEL_ALIASES.get(value.strip().upper())
        if mapped is not None:
            return mapped
    return "ERROR" if status_code == STATUS_ERROR else "DEFAULT"


def status_message(attributes: dict[str, Any], message: str) -> str | None:
    value = attributes.get(OBSERVATION_STATUS_MESSAGE)
    if value is not None:
        return as_text(value)
    return message or None
