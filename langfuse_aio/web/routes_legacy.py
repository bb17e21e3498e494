"""Langfuse's deprecated single-object routes, kept for old SDKs and scripts.

Each body becomes one ingestion event and takes the same path as `POST /api/public/ingestion`
(validation, durable write, queue); the answer is `{id}` of the entity.
"""

from __future__ import annotations

import uuid
from typing import Any

from quart import Blueprint, Response, jsonify

from langfuse_aio.domain.errors import InvalidRequestError
from langfuse_aio.domain.events import EventError, validate_event
from langfuse_aio.web.auth import authenticate
from langfuse_aio.web.body import read_json
from langfuse_aio.web.routes_ingestion import now_iso, submit

bp = Blueprint("legacy", __name__)


class LegacyBodyError(InvalidRequestError):
    def __init__(self, error: str) -> None:
        super().__init__("Invalid request data")
        self.detail = error

    def response_body(self) -> dict[str, Any]:
        return {"message": self.message, "error": self.detail}


async def _object_body() -> dict[str, Any]:
    body = await read_json()
    if not isinstance(body, dict):
        raise LegacyBodyError("expected a JSON object")
    return body


async def _accept(event_type: str, body: dict[str, Any]) -> Response:
    scope = await authenticate()
    result = validate_event({"id": str(uuid.uuid4()), "timestamp": now_iso(), "type": event_type, "body": body})
    if result is None:
        raise LegacyBodyError("nothing to ingest")
    if isinstance(result, EventError):
        raise LegacyBodyError(result.error)
    await submit(scope.project_id, [result])
    return jsonify({"id": result.entity_id})


def _with_id(body: dict[str, Any], *, from_key: str | None = None) -> dict[str, Any]:
    body = dict(body)
    if from_key is not None:
        body["id"] = body.pop(from_key, body.get("id"))
    if not body.get("id"):
        body["id"] = str(uuid.uuid4())
    return body


def _generation(body: dict[str, Any]) -> dict[str, Any]:
    body = dict(body)
    if "prompt" in body:
        body["input"] = body.pop("prompt")
    if "completion" in body:
        body["output"] = body.pop("completion")
    return body


@bp.post("/api/public/traces")
async def post_trace() -> Response:
    return await _accept("trace-create", _with_id(await _object_body()))


@bp.post("/api/public/events")
async def post_event() -> Response:
    return await _accept("event-create", _with_id(await _object_body()))


@bp.post("/api/public/spans")
async def post_span() -> Response:
    return await _accept("span-create", _with_id(await _object_body()))


@bp.patch("/api/public/spans")
async def patch_span() -> Response:
    body = await _object_body()
    if not body.get("spanId"):
        raise LegacyBodyError("spanId: is required")
    return await _accept("span-update", _with_id(body, from_key="spanId"))


@bp.post("/api/public/generations")
async def post_generation() -> Response:
    return await _accept("generation-create", _with_id(_generation(await _object_body())))


@bp.patch("/api/public/generations")
async def patch_generation() -> Response:
    body = await _object_body()
    if not body.get("generationId"):
        raise LegacyBodyError("generationId: is required")
    return await _accept("generation-update", _with_id(_generation(body), from_key="generationId"))
