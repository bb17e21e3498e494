"""GET /api/public/traces (a filtered, ordered page) and /api/public/traces/{traceId} (one trace in full)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from quart import Blueprint, Response, jsonify, request

from langfuse_aio.domain.api_views import trace_to_api
from langfuse_aio.domain.errors import NotFoundError
from langfuse_aio.domain.trace_filters import parse_trace_list
from langfuse_aio.domain.trace_views import trace_with_details
from langfuse_aio.storage.clickhouse import trace_detail_queries, trace_queries, trace_user_queries
from langfuse_aio.storage.clickhouse.base import Row
from langfuse_aio.storage.clickhouse.read_index_state import TRACE_USER_INDEX
from langfuse_aio.storage.postgres.prices import ModelPrices, prices_for_models
from langfuse_aio.web.auth import authenticate, resources
from langfuse_aio.web.read_cache import day_cache, read_cache, read_indexes

bp = Blueprint("traces", __name__)

# GET /traces/{id} reports a missing price as 0 (Langfuse does; the observation routes say null)
_NO_PRICES: dict[str, Any] = {"input": 0, "output": 0, "total": 0}


@bp.get("/api/public/traces")
async def list_traces() -> Response:
    scope = await authenticate()
    query = parse_trace_list(request.args)
    ch = resources().clickhouse
    indexes = await read_indexes().complete(ch)  # before their backfill ends, the tables answer
    if trace_user_queries.applies(query.filter, query.order) and TRACE_USER_INDEX in indexes:
        rows, total = await trace_user_queries.list_by_user(
            ch, query.filter, query.order, query.page, scope.project_id, cache=day_cache()
        )
    else:
        rows, total = await trace_queries.list_page_with_total(
            ch, query.filter, query.order, query.page, scope.project_id, cache=read_cache(), days_cache=day_cache()
        )
    summaries = await trace_detail_queries.trace_summaries(ch, scope.project_id, rows, indexes=indexes)
    data = [trace_with_details(row, summaries.get(str(row["id"]))) for row in rows]
    return jsonify({"data": data, "meta": query.page.meta(total)})


async def _prices(observations: Sequence[Row]) -> ModelPrices:
    return await prices_for_models(resources().pg, (o.get("internal_model_id") for o in observations))


@bp.get("/api/public/traces/<path:trace_id>")
async def get_trace(trace_id: str) -> Response:
    scope = await authenticate()
    ch = resources().clickhouse
    indexes = await read_indexes().complete(ch)
    found = await trace_detail_queries.get_trace_detail(ch, scope.project_id, trace_id, indexes=indexes)
    if found is None:
        raise NotFoundError(f"Trace {trace_id} not found within authorized project")
    trace, observations, scores = found
    prices = await _prices(observations)
    by_model = {str(o.get("internal_model_id") or ""): _NO_PRICES | prices.get(str(o.get("internal_model_id")), {})
                for o in observations}
    return jsonify(trace_to_api(trace, observations=observations, scores=scores, prices_by_model=by_model))
