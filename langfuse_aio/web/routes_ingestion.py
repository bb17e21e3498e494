"""POST /api/public/ingestion and POST /api/public/scores: validate, make durable, queue, answer."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Sequence
from datetime import UTC, datetime
from typing import cast

import structlog
from quart import Blueprint, Response, current_app, jsonify, request

from langfuse_aio.domain.errors import LangfuseError
from langfuse_aio.domain.events import ValidEvent, parse_ingestion_body, validate_batch
from langfuse_aio.domain.scores_post import score_events_from_post
from langfuse_aio.services.ingestion import IngestionProducer, IngestionUnavailable
from langfuse_aio.web.auth import authenticate
from langfuse_aio.web.body import read_body, read_json
from langfuse_aio.web.fast_json import parse_json_fast

bp = Blueprint("ingestion", __name__)
log = structlog.get_logger(__name__)


class IngestionFailedError(LangfuseError):
    status = 500
    error = "InternalServerError"

    def response_body(self) -> dict[str, object]:
        return {"message": "Invalid request data", "errors": [self.message]}  # Langfuse's body for this case


def producer() -> IngestionProducer:
    return cast(IngestionProducer, current_app.config["PRODUCER"])


def sdk_header(name: str) -> str | None:
    """SDKs send `x-langfuse-*` or (py 2) `x_langfuse_*`; neither is required."""
    return request.headers.get(f"x-langfuse-{name}") or request.headers.get(f"x_langfuse_{name.replace('-', '_')}")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def submit(project_id: str, events: Sequence[ValidEvent]) -> None:
    """Store and queue validated events; a 5xx when either step fails."""
    await _answering_5xx(producer().submit(project_id, [event.to_json() for event in events]))


async def submit_encoded(project_id: str, events_json: bytes, entities: Sequence[tuple[str, str]]) -> None:
    """`submit` for events already encoded as a JSON array of stored envelopes, with their entities."""
    await _answering_5xx(producer().submit_encoded(project_id, events_json, entities))


async def _answering_5xx(stored: Awaitable[str | None]) -> None:
    try:
        await stored
    except IngestionUnavailable as exc:
        raise IngestionFailedError(str(exc)) from exc


@bp.post("/api/public/ingestion")
async def ingestion() -> tuple[Response, int]:
    body = parse_json_fast(await read_body())  # Langfuse checks size and JSON before auth
    scope = await authenticate(allow_bearer=True)
    result = validate_batch(parse_ingestion_body(body), access_level=scope.access_level.value)
    await submit(scope.project_id, result.events)
    log.debug("batch_accepted", project_id=scope.project_id, events=len(result.events), errors=len(result.errors),
              sdk_name=sdk_header("sdk-name"), sdk_version=sdk_header("sdk-version"))
    return jsonify(result.response_body()), 207


@bp.post("/api/public/scores")
async def create_scores() -> tuple[Response, int]:
    scope = await authenticate()
    result = score_events_from_post(await read_json(), now_iso=now_iso(), new_id=lambda: str(uuid.uuid4()))
    await submit(scope.project_id, result.events)
    return jsonify(result.response_body()), result.status
