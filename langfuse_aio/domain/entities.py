"""Entity kinds: which entity an event type belongs to, and which ClickHouse table holds it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

EntityType = Literal["trace", "observation", "score"]

TABLES: dict[str, str] = {"trace": "traces", "observation": "observations", "score": "scores"}


def entity_type_of(event_type: str) -> EntityType:
    if event_type == "trace-create":
        return "trace"
    if event_type == "score-create":
        return "score"
    return "observation"


def group_stored_events(events: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], list[Mapping[str, Any]]]:
    """Group stored event envelopes by (entity type, body id), keeping their order."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for event in events:
        body = event.get("body")
        entity_id = body.get("id") if isinstance(body, Mapping) else None
        if not isinstance(entity_id, str) or not entity_id:
            continue
        groups.setdefault((entity_type_of(str(event.get("type"))), entity_id), []).append(event)
    return groups


def entities_of(events: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """The distinct (entity type, body id) of stored event envelopes, in first-seen order: what a
    queue job names."""
    return list(dict.fromkeys(
        (entity_type_of(str(event["type"])), str(event["body"]["id"]))
        for event in events
        if isinstance(event.get("body"), Mapping) and event["body"].get("id")
    ))
