"""The body of DELETE /api/public/traces: `{"traceIds": [1..1000 strings]}`, nothing else (strict)."""

from __future__ import annotations

from typing import Any

from langfuse_aio.domain.errors import InvalidRequestError

MAX_TRACE_IDS = 1_000


def parse_trace_ids(body: Any) -> list[str]:
    """The distinct trace ids, in request order; InvalidRequestError naming the problem otherwise."""
    if not isinstance(body, dict):
        raise InvalidRequestError("Invalid request data: the body must be an object {traceIds: string[]}")
    unknown = sorted(set(body) - {"traceIds"})
    if unknown:
        raise InvalidRequestError(f"Invalid request data: unrecognized key(s) in object: {', '.join(unknown)}")
    ids = body.get("traceIds")
    if not isinstance(ids, list):
        raise InvalidRequestError("Invalid request data: traceIds is required and must be an array of strings")
    if not ids:
        raise InvalidRequestError("Invalid request data: Minimum 1 trace_Id is required.")
    if len(ids) > MAX_TRACE_IDS:
        raise InvalidRequestError(f"Invalid request data: at most {MAX_TRACE_IDS} traceIds per request")
    if not all(isinstance(i, str) and i for i in ids):
        raise InvalidRequestError("Invalid request data: every traceIds item must be a non-empty string")
    return list(dict.fromkeys(ids))
