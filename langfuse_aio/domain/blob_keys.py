"""Blob-store key layout.

Entity history keeps Langfuse's layout, so a Langfuse v3 bucket can be replayed here and back:

    {prefix}{projectId}/{trace|observation|score}/{entityId}/{firstEventId}.json   (a JSON array of events)

Each accepted request is first stored whole, in one durable write (the shape Langfuse uses for
OpenTelemetry batches), and the worker fans it out into the entity files above:

    {prefix}ingestion/{projectId}/{yyyy}/{mm}/{dd}/{hh}/{mi}/{uuid}.json

Ids are arbitrary client strings. A segment that is not a plain file name (a '/', '..', control
characters, more than 200 bytes, or our own hash marker) is replaced by `_h_` + its sha256, so the
same id always maps to the same key and no id can escape its folder.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

_PLAIN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._:@=+,~-]*$")
_HASHED = "_h_"
_MAX_SEGMENT_BYTES = 200

ENTITY_TYPES = ("trace", "observation", "score")


def safe_segment(value: str) -> str:
    if _PLAIN.match(value) and len(value.encode()) <= _MAX_SEGMENT_BYTES and not value.startswith(_HASHED):
        return value
    return _HASHED + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def entity_prefix(prefix: str, project_id: str, entity_type: str, entity_id: str) -> str:
    if entity_type not in ENTITY_TYPES:
        raise ValueError(f"unknown entity type {entity_type!r}")
    return f"{prefix}{safe_segment(project_id)}/{entity_type}/{safe_segment(entity_id)}/"


def entity_event_key(prefix: str, project_id: str, entity_type: str, entity_id: str, event_id: str) -> str:
    return entity_prefix(prefix, project_id, entity_type, entity_id) + safe_segment(event_id) + ".json"


def project_prefix(prefix: str, project_id: str) -> str:
    """Everything of one project: its entity files (request files live under `ingestion/`)."""
    return f"{prefix}{safe_segment(project_id)}/"


def request_key(prefix: str, project_id: str, received_at: datetime, request_id: str) -> str:
    return (
        f"{prefix}ingestion/{safe_segment(project_id)}/"
        f"{received_at:%Y/%m/%d/%H/%M}/{safe_segment(request_id)}.json"
    )
