"""GET /api/public/observations, /observations/{id}, /v2/observations."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from quart import Blueprint, Response, jsonify, request

from langfuse_aio.domain.api_views import observation_to_api
from langfuse_aio.domain.errors import NotFoundError
from langfuse_aio.domain.observation_filters import parse_v1
from langfuse_aio.domain.observation_v2_views import TRACE_GROUPS, Cursor, encode_cursor, observation_to_v2, parse_v2
from langfuse_aio.storage.clickhouse import observation_queries as queries
from langfuse_aio.storage.clickhouse.base import Row
from langfuse_aio.storage.clickhouse.observation_predicate import predicate as observation_predicate
from langfuse_aio.storage.clickhouse.repositories import fetch_current_rows
from langfuse_aio.storage.postgres.prices import ModelPrices, prices_for_models
from langfuse_aio.web.auth import authenticate, resources
from langfuse_aio.web.read_cache import read_cache, read_indexes

bp = Blueprint("observations", __name__)


async def _prices(rows: Sequence[Row]) -> ModelPrices:
    return await prices_for_models(resources().pg, (row.get("internal_model_id") for row in rows))


def _with_prices(row: Row, prices: ModelPrices) -> dict[str, object]:
    return observation_to_api(row, prices=prices.get(row.get("internal_model_id") or ""))


@bp.get("/api/public/observations")
async def list_observations() -> Response:
    scope = await authenticate()
    flt, page = parse_v1(request.args)
    ch = resources().clickhouse
    predicate = observation_predicate(scope.project_id, flt, indexes=await read_indexes().complete(ch))
    rows, total = await queries.list_page_with_total(
        ch, predicate, skip=page.offset, take=page.limit, cache=read_cache())
    prices = await _prices(rows)
    return jsonify({"data": [_with_prices(row, prices) for row in rows], "meta": page.meta(total)})


@bp.get("/api/public/observations/<path:observation_id>")
async def get_observation(observation_id: str) -> Response:
    scope = await authenticate()
    row = await queries.get_observation(resources().clickhouse, scope.project_id, observation_id)
    if row is None:
        raise NotFoundError("Observation not found within authorized project")
    return jsonify(_with_prices(row, await _prices([row])))


@bp.get("/api/public/v2/observations")
async def list_observations_v2() -> Response:
    scope = await authenticate()
    query = parse_v2(request.args)
    ch = resources().clickhouse
    after = (query.cursor.start_time, query.cursor.id) if query.cursor else None
    predicate = observation_predicate(
        scope.project_id, query.filter, after=after, indexes=await read_indexes().complete(ch))
    rows = await queries.list_page(ch, predicate, skip=0, take=query.limit + 1)
    more, rows = len(rows) > query.limit, rows[: query.limit]

    async def no_traces() -> dict[str, Row]:
        return {}

    async def no_prices() -> ModelPrices:
        return {}

    traces, prices = await asyncio.gather(
        fetch_current_rows(ch, "traces", scope.project_id, [str(r["trace_id"]) for r in rows if r.get("trace_id")])
        if query.groups & TRACE_GROUPS else no_traces(),
        _prices(rows) if "model" in query.groups else no_prices(),
    )
    data = [
        observation_to_v2(
            row,
            groups=query.groups,
            trace=traces.get(str(row.get("trace_id") or "")),
            prices=prices.get(row.get("internal_model_id") or ""),
            expand_metadata=query.expand_metadata,
        )
        for row in rows
    ]
    meta = {"cursor": encode_cursor(Cursor(rows[-1]["start_time"], str(rows[-1]["id"])))} if more and rows else {}
    return jsonify({"data": data, "meta": meta})
