"""`POST /api/public/ingestion`: validate a batch, authorise it against the key scope, sort and group it.

Pure: the web half calls `parse_ingestion_body`, then `validate_batch`, stores `group_by_entity(...)` and
answers 207 with `BatchResult.response_body()`. Body rules live in `event_schemas` (types) and
`event_bodies` (refinements; its docstring lists where we follow Langfuse HEAD or deviate from v3.0.0).

Behaviour (Langfuse v3.0.0 `processEventBatch`, spec §2.5/§2.6):
- each element is validated on its own; a failure is a per-event 400 "Invalid request data" whose `error`
  names every problem, e.g. `body.startTime: invalid ISO-8601 datetime …`; its id is the element's `id`
  when that is a string, else "unknown";
- a key with the "scores" access level may only send `score-create`; anything else is a per-event 401
  "Authentication error" / "Access Scope Denied", listed after all validation errors;
- `sdk-log` events are dropped once valid: they appear in neither list;
- accepted events are sorted: non-updates by envelope timestamp, then updates by timestamp (stable);
  timestamps are compared as instants in µs (Langfuse: ms), so `+01:00` and `Z` forms order correctly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from langfuse_aio.domain.apikeys import AccessLevel
from langfuse_aio.domain.entities import EntityType, entity_type_of
from langfuse_aio.domain.errors import InvalidRequestError
from langfuse_aio.domain.event_bodies import BODY_VALIDATORS, new_uuid, score_body
from langfuse_aio.domain.validation import INVALID_DATETIME, Invalid, epoch_us, is_iso_datetime

INVALID_REQUEST_DATA: Final = "Invalid request data"
UPDATE_TYPES: Final = frozenset({"span-update", "generation-update", "observation-update"})
EVENT_TYPES: Final = frozenset(BODY_VALIDATORS)


@dataclass(frozen=True, slots=True)
class ValidEvent:
    """A validated event envelope. `body` is normalised as Langfuse stores it in the event store:
    camelCase keys, unknown keys removed, usage normalised, score `source` defaulted. `timestamp` must
    pass `is_iso_datetime`; `timestamp_us` is its instant in epoch microseconds, for ordering."""

    id: str
    type: str
    timestamp: str
    body: dict[str, Any]
    timestamp_us: int = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "timestamp_us", epoch_us(self.timestamp))

    @property
    def entity_type(self) -> EntityType:
        return entity_type_of(self.type)

    @property
    def entity_id(self) -> str:
        return self.body["id"]  # type: ignore[no-any-return]

    @property
    def is_update(self) -> bool:
        return self.type in UPDATE_TYPES

    def to_json(self) -> dict[str, Any]:
        """The envelope as stored in the blob store."""
        return {"id": self.id, "timestamp": self.timestamp, "type": self.type, "body": self.body}


@dataclass(frozen=True, slots=True)
class EventError:
    id: str
    status: int
    message: str
    error: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "message": self.message, "error": self.error}


def _describe_type(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 100 else text[:97] + "..."


_MAX_ISSUES: Final = 10


def _join(issues: list[str]) -> str:
    if len(issues) > _MAX_ISSUES:
        issues = [*issues[:_MAX_ISSUES], f"and {len(issues) - _MAX_ISSUES} more issues"]
    return "; ".join(issues)


def validate_event(raw: object, *, new_id: Callable[[], str] = new_uuid) -> ValidEvent | EventError | None:
    """Validate one batch element. None for a valid `sdk-log` (dropped). `new_id` names a score without id."""
    if not isinstance(raw, dict):
        return EventError("unknown", 400, INVALID_REQUEST_DATA, "event: expected an object")
    issues: list[str] = []
    event_id = raw.get("id")
    if type(event_id) is not str:
        issues.append("id: is required" if event_id is None else "id: expected a string")
    timestamp = raw.get("timestamp")
    if not is_iso_datetime(timestamp):
        issues.append("timestamp: is required" if timestamp is None else f"timestamp: {INVALID_DATETIME}")
    event_type = raw.get("type")
    validator = BODY_VALIDATORS.get(event_type) if type(event_type) is str else None
    body: dict[str, Any] | None = None
    if validator is None:
        problem = "is required" if event_type is None else f"unknown event type {_describe_type(event_type)}"
        issues.append(f"type: {problem}")
    elif "body" not in raw:
        issues.append("body: is required")
    else:
        try:
            body = score_body(raw["body"], new_id=new_id) if event_type == "score-create" else validator(raw["body"])
        except Invalid as exc:
            issues.extend(exc.issues)
    if issues or body is None:
        error_id = event_id if type(event_id) is str else "unknown"
        return EventError(error_id, 400, INVALID_REQUEST_DATA, _join(issues))
    if event_type == "sdk-log":
        return None
    return ValidEvent(event_id, event_type, timestamp, body)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class BatchResult:
    events: tuple[ValidEvent, ...]  # accepted, in processing order (§2.5 step 4)
    errors: tuple[EventError, ...]  # validation errors in request order, then scope errors

    def response_body(self) -> dict[str, list[dict[str, Any]]]:
        """The 207 Multi-Status body."""
        return {
            "successes": [{"id": event.id, "status": 201} for event in self.events],
            "errors": [error.to_json() for error in self.errors],
        }


def _processing_order(event: ValidEvent) -> tuple[bool, int]:
    return event.type in UPDATE_TYPES, event.timestamp_us


def validate_batch(
    events: Sequence[object],
    *,
    access_level: AccessLevel | Literal["all", "scores"],
    new_id: Callable[[], str] = new_uuid,
) -> BatchResult:
    if access_level not in ("all", "scores"):
        raise ValueError(f"unknown access level {access_level!r}")
    scores_only = access_level == "scores"
    accepted: list[ValidEvent] = []
    invalid: list[EventError] = []
    denied: list[EventError] = []
    for raw in events:
        result = validate_event(raw, new_id=new_id)
        if result is None:
            continue
        if isinstance(result, EventError):
            invalid.append(result)
        elif scores_only and result.type != "score-create":
            denied.append(EventError(result.id, 401, "Authentication error", "Access Scope Denied"))
        else:
            accepted.append(result)
    accepted.sort(key=_processing_order)
    return BatchResult(tuple(accepted), tuple(invalid + denied))


def group_by_entity(events: Sequence[ValidEvent]) -> dict[tuple[str, str], list[ValidEvent]]:
    """Events per (entity type, entity id), groups in order of first appearance, each in input order."""
    groups: dict[tuple[str, str], list[ValidEvent]] = {}
    for event in events:
        groups.setdefault((event.entity_type, event.entity_id), []).append(event)
    return groups


class InvalidBatchError(InvalidRequestError):
    """The request body is not `{batch: array, metadata?: any}`: 400 for the whole request."""

    def __init__(self, *issues: str) -> None:
        super().__init__(INVALID_REQUEST_DATA)
        self.issues = issues

    def response_body(self) -> dict[str, Any]:
        """Langfuse's shape for this 400: `{"message": "Invalid request data", "errors": [...]}`."""
        return {"message": self.message, "errors": list(self.issues)}


def parse_ingestion_body(body: object) -> list[object]:
    """The batch of a decoded `POST /api/public/ingestion` body; top-level `metadata` is ignored."""
    if not isinstance(body, dict):
        raise InvalidBatchError("expected an object with a `batch` array")
    batch = body.get("batch")
    if not isinstance(batch, list):
        raise InvalidBatchError("batch: is required" if "batch" not in body else "batch: expected an array")
    return batch
