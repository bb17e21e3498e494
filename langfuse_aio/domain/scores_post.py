"""`POST /api/public/scores`: one score object (Langfuse, py2 `api.score.create`) or an array (py v5 SDK).

Each accepted score becomes a `score-create` envelope with a fresh envelope id, stored and processed like
one from the ingestion API. The body rules are those of `score-create` (see `event_schemas`), except that
`source` cannot be set here (stripped, so it is always "API"), and a score without `id` gets a new one.
The envelope timestamp is the item's own `timestamp` when that is a valid ISO-8601 datetime (py v5 sends
one), otherwise `now_iso`.

Answers:
- single object, valid: 200 `{"id": <score id>}`; invalid: `InvalidScoreBodyError`, a 400
  `{"message": "Invalid request data", "error": [issues]}` as Langfuse answers;
- array: every item is judged alone. All valid (or empty): 202 `{"message": "Accepted"}`; otherwise 207
  `{"accepted": n, "rejected": m, "errors": [{"message": "scores[i].field: problem"}, ...]}`, the
  contract the py v5 SDK expects (sdk-wire §4);
- any other JSON value: `InvalidScoreBodyError`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from langfuse_aio.domain.errors import InvalidRequestError
from langfuse_aio.domain.event_bodies import score_body
from langfuse_aio.domain.events import INVALID_REQUEST_DATA, ValidEvent
from langfuse_aio.domain.validation import Invalid, is_iso_datetime


class InvalidScoreBodyError(InvalidRequestError):
    def __init__(self, *issues: str) -> None:
        super().__init__(INVALID_REQUEST_DATA)
        self.issues = issues

    def response_body(self) -> dict[str, Any]:
        return {"message": self.message, "error": list(self.issues)}


@dataclass(frozen=True, slots=True)
class ScoreItemError:
    index: int
    message: str


@dataclass(frozen=True, slots=True)
class ScorePostResult:
    events: tuple[ValidEvent, ...]  # score-create envelopes to store, in request order
    errors: tuple[ScoreItemError, ...]  # rejected array items
    is_array: bool

    @property
    def status(self) -> int:
        if not self.is_array:
            return 200
        return 207 if self.errors else 202

    def response_body(self) -> dict[str, Any]:
        if not self.is_array:
            return {"id": self.events[0].entity_id}
        if not self.errors:
            return {"message": "Accepted"}
        return {
            "accepted": len(self.events),
            "rejected": len(self.errors),
            "errors": [{"message": error.message} for error in self.errors],
        }


def _score_event(item: object, *, now_iso: str, new_id: Callable[[], str]) -> ValidEvent:
    """Raises Invalid with issues whose paths are relative to the item."""
    if not isinstance(item, dict):
        raise Invalid(": expected an object")
    if "source" in item:
        item = {key: value for key, value in item.items() if key != "source"}
    try:
        body = score_body(item, new_id=new_id)
    except Invalid as exc:
        raise Invalid(*(issue.removeprefix("body") for issue in exc.issues)) from None
    timestamp = item.get("timestamp")
    if not is_iso_datetime(timestamp):
        timestamp = now_iso
    return ValidEvent(new_id(), "score-create", timestamp, body)


def score_events_from_post(body: object, *, now_iso: str, new_id: Callable[[], str]) -> ScorePostResult:
    if not is_iso_datetime(now_iso):
        raise ValueError(f"now_iso must be an ISO-8601 datetime with zone, got {now_iso!r}")
    if isinstance(body, dict):
        try:
            event = _score_event(body, now_iso=now_iso, new_id=new_id)
        except Invalid as exc:
            raise InvalidScoreBodyError(*(issue.removeprefix(".") for issue in exc.issues)) from None
        return ScorePostResult((event,), (), is_array=False)
    if not isinstance(body, list):
        raise InvalidScoreBodyError("expected a score object or an array of score objects")
    events: list[ValidEvent] = []
    errors: list[ScoreItemError] = []
    for index, item in enumerate(body):
        try:
            events.append(_score_event(item, now_iso=now_iso, new_id=new_id))
        except Invalid as exc:
            errors.append(ScoreItemError(index, "; ".join(f"scores[{index}]{issue}" for issue in exc.issues)))
    return ScorePostResult(tuple(events), tuple(errors), is_array=True)
