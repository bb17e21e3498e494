"""GET /api/public/metrics/daily: traces, observations, cost and usage per UTC day, newest first."""

from __future__ import annotations

from quart import Blueprint, Response, jsonify, request

from langfuse_aio.domain.trace_filters import page_of, parse_daily_metrics
from langfuse_aio.domain.trace_views import daily_metrics
from langfuse_aio.storage.clickhouse.metrics_queries import daily_figures, daily_figures_cached
from langfuse_aio.storage.clickhouse.trace_queries import predicate
from langfuse_aio.web.auth import authenticate, resources
from langfuse_aio.web.read_cache import day_cache, read_cache

bp = Blueprint("metrics", __name__)


@bp.get("/api/public/metrics/daily")
async def get_daily_metrics() -> Response:
    """Paged by day; `totalItems` counts every day reported (trace days and observation days)."""
    scope = await authenticate()
    flt, page = parse_daily_metrics(request.args)
    ch = resources().clickhouse
    if not predicate(scope.project_id, flt).conditions:  # per day, only changed days recomputed
        trace_days, model_days = await daily_figures_cached(ch, scope.project_id, day_cache())
    else:
        trace_days, model_days = await read_cache().get(
            ch, ("traces", "observations"), ("daily", scope.project_id, flt),
            lambda: daily_figures(ch, scope.project_id, flt),
        )
    days = daily_metrics(trace_days, model_days)
    return jsonify({"data": page_of(days, page), "meta": page.meta(len(days))})
