"""Stored ingestion events → one record per event (Langfuse's `map*EventsToRecords`, §3.4); pure.

A record holds only what its event *says*: a column is present when the event sets it, and None appears
only where an explicit null clears a value (a score's `comment`, HEAD #4900, and `string_value`).
Immutable columns that the event did not carry but Langfuse fills with a default (the envelope time as
a trace's `timestamp` or an observation's `start_time`) go to `weak`, so that the merge can let an
explicit value replace a merely defaulted one (§3.7). `input`/`output` stay raw: only the value the
merge picks is turned into text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from langfuse_aio.domain.metadata import normalise_metadata, stringify
from langfuse_aio.domain.provided_usage import provided_cost_details, provided_usage_details
from langfuse_aio.domain.score_inflation import ScoreConfig, inflate_score
from langfuse_aio.domain.unprocessable import UnprocessableEntity

DEFAULT_ENVIRONMENT: Final = "default"
LEVELS: Final = frozenset({"DEBUG", "DEFAULT", "WARNING", "ERROR"})
# Langfuse HEAD's observation types beyond v3.0.0's three (they arrive as `<type>-create`, e.g. from OTel)
EXTENDED_OBSERVATION_TYPES: Final = ("AGENT", "TOOL", "CHAIN", "RETRIEVER", "EVALUATOR", "EMBEDDING", "GUARDRAIL")
LEGACY_OBSERVATION_TYPES: Final = frozenset({"SPAN", "GENERATION", "EVENT"})
OBSERVATION_TYPES: Final = LEGACY_OBSERVATION_TYPES | frozenset(EXTENDED_OBSERVATION_TYPES)
# event type → observation type; None: legacy events name it in `body.type`
OBSERVATION_EVENT_TYPES: Final[dict[str, str | None]] = {
    "span-create": "SPAN", "span-update": "SPAN",
    "generation-create": "GENERATION", "generation-update": "GENERATION",
    "event-create": "EVENT",
    "observation-create": None, "observation-update": None,
    **{f"{kind.lower()}-create": kind for kind in EXTENDED_OBSERVATION_TYPES},
}
ENTITY_OF_EVENT_TYPE: Final[dict[str, str]] = {
    "trace-create": "trace", "score-create": "score", **dict.fromkeys(OBSERVATION_EVENT_TYPES, "observation"),
}


@dataclass(slots=True)
class StoredEvent:
    id: str
    type: str
    timestamp: datetime  # UTC, whole milliseconds
    body: Mapping[str, Any]


@dataclass(slots=True)
class Record:
    values: dict[str, Any]
    weak: dict[str, Any] = field(default_factory=dict)
    input: Any = None
    output: Any = None
    prompt: tuple[str, int] | None = None


def to_ms(moment: datetime) -> datetime:
    """UTC, cut to whole milliseconds as `new Date(...).getTime()` and DateTime64(3) do (naive = UTC)."""
    if moment.tzinfo is not UTC:
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    extra = moment.microsecond % 1000
    return moment.replace(microsecond=moment.microsecond - extra) if extra else moment


def parse_timestamp(value: Any, what: str) -> datetime:
    if not isinstance(value, str):
        raise UnprocessableEntity(f"{what} is not an ISO-8601 string")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise UnprocessableEntity(f"{what} is not an ISO-8601 datetime: {value!r}") from exc
    if moment.tzinfo is None:
        raise UnprocessableEntity(f"{what} has no time zone: {value!r}")
    return to_ms(moment)


def load_events(entity_type: str, entity_id: str, events: Sequence[Mapping[str, Any]]) -> list[StoredEvent]:
    """Check the stored envelopes and sort them stably by (timestamp, create before non-create)."""
    loaded: list[StoredEvent] = []
    for event in events:
        if not isinstance(event, Mapping):
            raise UnprocessableEntity("stored event is not an object")
        event_type, body = event.get("type"), event.get("body")
        if not isinstance(event_type, str) or ENTITY_OF_EVENT_TYPE.get(event_type) != entity_type:
            raise UnprocessableEntity(f"event type {event_type!r} does not belong to a {entity_type}")
        if not isinstance(body, Mapping):
            raise UnprocessableEntity(f"{event_type} event has no body object")
        body_id = body.get("id")
        if body_id is not None and body_id != entity_id:
            raise UnprocessableEntity(f"{event_type} event for id {body_id!r} stored under {entity_id!r}")
        event_id = event.get("id")
        loaded.append(StoredEvent(
            event_id if isinstance(event_id, str) else "",
            event_type,
            parse_timestamp(event.get("timestamp"), f"{event_type} event timestamp"),
            body,
        ))
    loaded.sort(key=lambda e: (e.timestamp, "create" not in e.type))
    return loaded


def _text(body: Mapping[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None or isinstance(value, str):
        return value
    raise UnprocessableEntity(f"body.{key} is not a string")


def _copy_texts(body: Mapping[str, Any], pairs: tuple[tuple[str, str], ...], values: dict[str, Any]) -> None:
    for key, column in pairs:
        value = body.get(key)
        if value is not None:
            if not isinstance(value, str):
                raise UnprocessableEntity(f"body.{key} is not a string")
            values[column] = value


def _environment(body: Mapping[str, Any], values: dict[str, Any]) -> None:
    """Only a non-default environment counts as explicit; absent and "default" are the default."""
    environment = _text(body, "environment")
    if environment and environment != DEFAULT_ENVIRONMENT:
        values["environment"] = environment


def _metadata(body: Mapping[str, Any], values: dict[str, Any]) -> None:
    metadata = body.get("metadata")
    if metadata is not None:
        normalised = normalise_metadata(metadata)
        if normalised:
            values["metadata"] = normalised


_TRACE_TEXTS: Final = (
    ("name", "name"), ("userId", "user_id"), ("sessionId", "session_id"), ("release", "release"),
    ("version", "version"),
)


def trace_record(event: StoredEvent) -> Record:
    body = event.body
    values: dict[str, Any] = {}
    weak: dict[str, Any] = {}
    timestamp = body.get("timestamp")
    if timestamp is None:
        weak["timestamp"] = event.timestamp
    else:
        values["timestamp"] = parse_timestamp(timestamp, "body.timestamp")
    _copy_texts(body, _TRACE_TEXTS, values)
    _metadata(body, values)
    _environment(body, values)
    public = body.get("public")
    if public is not None:  # absent means "no change" (§3.8 #2); bookmarked never comes from ingestion
        if not isinstance(public, bool):
            raise UnprocessableEntity("body.public is not a boolean")
        values["public"] = public
    tags = body.get("tags")
    if tags is not None:
        if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
            raise UnprocessableEntity("body.tags is not a list of strings")
        values["tags"] = tags
    return Record(values, weak, body.get("input"), body.get("output"))


_OBSERVATION_TEXTS: Final = (
    ("name", "name"), ("statusMessage", "status_message"), ("parentObservationId", "parent_observation_id"),
    ("version", "version"), ("model", "provided_model_name"),
)
_OBSERVATION_TIMES: Final = (("endTime", "end_time"), ("completionStartTime", "completion_start_time"))


def observation_record(event: StoredEvent) -> Record:
    body = event.body
    observation_type = OBSERVATION_EVENT_TYPES[event.type]
    if observation_type is None:  # legacy observation-create/-update name one of v3.0.0's three types
        observation_type = body.get("type")
        if observation_type not in LEGACY_OBSERVATION_TYPES:
            raise UnprocessableEntity(f"observation type {observation_type!r} is not SPAN, GENERATION or EVENT")
    values: dict[str, Any] = {"type": observation_type}
    weak: dict[str, Any] = {}
    trace_id = _text(body, "traceId")
    if trace_id:
        values["trace_id"] = trace_id
    start_time = body.get("startTime")
    if start_time is None:
        weak["start_time"] = event.timestamp
    else:
        values["start_time"] = parse_timestamp(start_time, "body.startTime")
    for key, column in _OBSERVATION_TIMES:
        moment = body.get(key)
        if moment:
            values[column] = parse_timestamp(moment, f"body.{key}")
    _copy_texts(body, _OBSERVATION_TEXTS, values)
    level = body.get("level")
    if level is not None:  # absent keeps the earlier level (§3.8 #1); DEFAULT only after the merge
        if level not in LEVELS:
            raise UnprocessableEntity(f"body.level is not one of {sorted(LEVELS)}: {level!r}")
        values["level"] = level
    model_parameters = body.get("modelParameters")
    if model_parameters is not None:
        values["model_parameters"] = stringify(model_parameters)
    usage = provided_usage_details(body)
    if usage:
        values["provided_usage_details"] = usage
    costs = provided_cost_details(body)
    if costs:
        values["provided_cost_details"] = costs
    _metadata(body, values)
    _environment(body, values)
    prompt_name, prompt_version = body.get("promptName"), body.get("promptVersion")
    prompt = None
    if isinstance(prompt_name, str) and type(prompt_version) is int:
        prompt = (prompt_name, prompt_version)
    return Record(values, weak, body.get("input"), body.get("output"), prompt)


def score_record(event: StoredEvent, configs: Mapping[str, ScoreConfig] | None) -> Record:
    body = event.body
    values = inflate_score(body, configs)
    values["timestamp"] = event.timestamp  # scores have no body timestamp: the envelope's, immutable
    trace_id = _text(body, "traceId")
    if trace_id:
        values["trace_id"] = trace_id
    _copy_texts(body, (("observationId", "observation_id"), ("source", "source"), ("sessionId", "session_id")),
                values)
    _metadata(body, values)
    if "comment" in body:  # an explicit null clears the comment (Langfuse HEAD, test "#4900")
        values["comment"] = _text(body, "comment")
    _environment(body, values)
    return Record(values)
