"""GET /api/public/traces/{traceId}: one trace with its observations and scores."""

from __future__ import annotations

import asyncio

from quart import Blueprint, Response, jsonify

from langfuse_aio.domain.api_views import trace_to_api
from langfuse_aio.domain.errors import NotFoundError
from langfuse_aio.storage.clickhouse import repositories
from langfuse_aio.web.auth import authenticate, resources

bp = Blueprint("traces", __name__)


@bp.get("/api/public/traces/<path:trace_id>")
async def get_trace(trace_id: str) -> Response:
    scope = await authenticate()
    ch = resources().clickhouse
    trace, observations, scores = await asyncio.gather(
        repositories.get_trace(ch, scope.project_id, trace_id),
        repositories.list_observations_for_trace(ch, scope.project_id, trace_id),
        repositories.list_scores_for_trace(ch, scope.project_id, trace_id),
    )
    if trace is None:
        raise NotFoundError(f"Trace {trace_id} not found within authorized project")
    return jsonify(trace_to_api(trace, observations=observations, scores=scores))
