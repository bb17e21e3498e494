"""GET /api/public/scores, GET and DELETE /scores/{id}, GET /v2/scores[/{id}], GET /v3/scores.

All Basic auth (a Bearer public key gets 401) and scoped to the key's project. Response shapes and
filters: `domain.score_views` and `domain.score_filters`. DELETE answers 202, as today's Langfuse
does, but the deletion is already complete when it answers (`services.score_deletion`); an unknown
(or already deleted) id is a 404.
"""

from __future__ import annotations

from quart import Blueprint, Response, jsonify, request

from langfuse_aio.domain import query_params
from langfuse_aio.domain.api_views import score_to_api
from langfuse_aio.domain.errors import LangfuseError, NotFoundError
from langfuse_aio.domain.score_filters import ScoreFilter, encode_cursor, v1_filter, v2_filter, v3_filter
from langfuse_aio.domain.score_views import (
    is_renderable,
    score_v1_list_item,
    score_v2,
    score_v2_list_item,
    score_v3,
)
from langfuse_aio.services.score_deletion import delete_score
from langfuse_aio.storage.clickhouse import score_queries
from langfuse_aio.storage.clickhouse.base import Row
from langfuse_aio.storage.redis.locks import EntityLocks
from langfuse_aio.web.auth import authenticate, resources
from langfuse_aio.web.read_cache import read_cache

bp = Blueprint("scores", __name__)

MSG_NOT_FOUND = "Score not found within authorized project"


class CorruptedScoreError(LangfuseError):
    status = 500
    error = "InternalServerError"


async def _page(project_id: str, score_filter: ScoreFilter) -> tuple[list[Row], dict[str, Row], dict[str, int]]:
    page = query_params.page(request.args)
    ch = resources().clickhouse
    rows, total = await score_queries.list_page_with_total(
        ch, project_id, score_filter, limit=page.limit, offset=page.offset, cache=read_cache()
    )
    traces = await score_queries.traces_of(ch, project_id, rows)
    return rows, traces, page.meta(total)


@bp.get("/api/public/scores")
async def list_scores_v1() -> Response:
    scope = await authenticate()
    rows, traces, meta = await _page(scope.project_id, v1_filter(request.args))
    return jsonify({"data": [score_v1_list_item(r, traces.get(r["trace_id"])) for r in rows], "meta": meta})


async def _one(project_id: str, score_id: str) -> Row:
    row = await score_queries.get_score(resources().clickhouse, project_id, score_id)
    if row is None:
        raise NotFoundError(MSG_NOT_FOUND)
    return row


@bp.get("/api/public/scores/<path:score_id>")
async def get_score_v1(score_id: str) -> Response:
    scope = await authenticate()
    row = await _one(scope.project_id, score_id)
    if not row.get("trace_id"):  # a session score is not a v1 Score
        raise NotFoundError(MSG_NOT_FOUND)
    if not is_renderable(row):
        raise CorruptedScoreError("Requested score is corrupted")
    return jsonify(score_to_api(row))


@bp.delete("/api/public/scores/<path:score_id>")
async def delete_score_route(score_id: str) -> tuple[Response, int]:
    scope = await authenticate()
    res = resources()
    deleted = await delete_score(
        ch=res.clickhouse, blob=res.blob, locks=EntityLocks(res.redis), prefix=res.settings.s3.prefix,
        project_id=scope.project_id, score_id=score_id,
    )
    if not deleted:
        raise NotFoundError(MSG_NOT_FOUND)
    return jsonify({"message": "Score deleted successfully"}), 202


@bp.get("/api/public/v2/scores")
async def list_scores_v2() -> Response:
    scope = await authenticate()
    score_filter, with_trace = v2_filter(request.args)
    rows, traces, meta = await _page(scope.project_id, score_filter)
    data = [score_v2_list_item(r, traces.get(r["trace_id"]), with_trace=with_trace) for r in rows]
    return jsonify({"data": data, "meta": meta})


@bp.get("/api/public/v2/scores/<path:score_id>")
async def get_score_v2(score_id: str) -> Response:
    scope = await authenticate()
    row = await _one(scope.project_id, score_id)
    if not is_renderable(row):
        raise CorruptedScoreError("Requested score is corrupted")
    return jsonify(score_v2(row))


@bp.get("/api/public/v3/scores")
async def list_scores_v3() -> Response:
    scope = await authenticate()
    score_filter, limit, fields = v3_filter(request.args)
    rows = await score_queries.list_scores(
        resources().clickhouse, scope.project_id, score_filter, limit=limit + 1, cache=read_cache()
    )
    meta: dict[str, object] = {"limit": limit}
    if len(rows) > limit:
        rows = rows[:limit]
        meta["cursor"] = encode_cursor(rows[-1]["timestamp"], str(rows[-1]["id"]))
    return jsonify({"data": [score_v3(r, fields) for r in rows], "meta": meta})
