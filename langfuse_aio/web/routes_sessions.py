"""GET /api/public/sessions (Postgres `trace_sessions`) and /api/public/sessions/{id} (with its traces)."""

from __future__ import annotations

from quart import Blueprint, Response, jsonify, request

from langfuse_aio.domain.errors import NotFoundError
from langfuse_aio.domain.trace_filters import parse_session_list
from langfuse_aio.domain.trace_views import session_to_api
from langfuse_aio.storage.clickhouse import trace_detail_queries
from langfuse_aio.storage.postgres import sessions
from langfuse_aio.web.auth import authenticate, resources

bp = Blueprint("sessions", __name__)


@bp.get("/api/public/sessions")
async def list_sessions() -> Response:
    scope = await authenticate()
    query = parse_session_list(request.args)  # `environment` is parsed, but sessions have none
    rows, total = await sessions.list_sessions(
        resources().pg, scope.project_id, from_timestamp=query.from_timestamp, to_timestamp=query.to_timestamp,
        limit=query.page.limit, offset=query.page.offset,
    )
    return jsonify({"data": [session_to_api(row) for row in rows], "meta": query.page.meta(total)})


@bp.get("/api/public/sessions/<path:session_id>")
async def get_session(session_id: str) -> Response:
    scope = await authenticate()
    row = await sessions.get_session(resources().pg, scope.project_id, session_id)
    if row is None:
        raise NotFoundError("Session not found within authorized project")
    traces = await trace_detail_queries.traces_of_session(resources().clickhouse, scope.project_id, session_id)
    return jsonify(session_to_api(row, traces))
