"""GET /api/public/health and GET /api/public/projects."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from quart import Blueprint, Response, jsonify

from langfuse_aio import __version__
from langfuse_aio.web.auth import authenticate, resources

bp = Blueprint("system", __name__)

HEALTH_TIMEOUT_SECONDS = 3.0


async def _probe(name: str, check: Callable[[], Awaitable[object]]) -> str | None:
    try:
        await asyncio.wait_for(check(), HEALTH_TIMEOUT_SECONDS)
    except Exception as exc:  # a health probe reports any failure, whatever its kind
        return f"{name}: {type(exc).__name__}: {exc}".strip()
    return None


async def _postgres_ok() -> None:
    async with resources().pg.connection() as conn:
        await conn.execute("SELECT 1")


@bp.get("/api/public/health")
async def health() -> tuple[Response, int]:
    res = resources()
    failures = [
        f
        for f in await asyncio.gather(
            _probe("postgres", _postgres_ok),
            _probe("redis", res.redis.ping),
            _probe("clickhouse", res.clickhouse.ping),
            _probe("blob_store", res.blob.ping),
        )
        if f is not None
    ]
    if failures:
        return jsonify({"status": "Service Unavailable", "version": __version__, "failing": failures}), 503
    return jsonify({"status": "OK", "version": __version__}), 200


@bp.get("/api/public/projects")
async def projects() -> Response:
    scope = await authenticate(allow_bearer=True)
    async with resources().pg.connection() as conn:
        cur = await conn.execute(
            "SELECT p.id, p.name, o.id, o.name FROM projects p JOIN organizations o ON o.id = p.org_id "
            "WHERE p.id = %s AND p.deleted_at IS NULL",
            (scope.project_id,),
        )
        rows = await cur.fetchall()
    return jsonify(
        {
            "data": [
                {"id": pid, "name": name, "metadata": {}, "organization": {"id": oid, "name": oname}}
                for pid, name, oid, oname in rows
            ]
        }
    )
