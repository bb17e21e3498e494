"""GET and POST /api/public/score-configs, GET and PATCH /score-configs/{id}: project-scoped, Basic auth only."""

from __future__ import annotations

import structlog
from quart import Blueprint, Response, jsonify, request

from langfuse_aio.domain import query_params
from langfuse_aio.domain.errors import LangfuseError, NotFoundError
from langfuse_aio.domain.score_config_rules import config_to_api, parse_new_config, stored_config_problem
from langfuse_aio.domain.score_config_update import apply_update, updated_fields
from langfuse_aio.storage.postgres import score_configs
from langfuse_aio.web.auth import authenticate, resources
from langfuse_aio.web.body import read_json

bp = Blueprint("score_configs", __name__)
log = structlog.get_logger(__name__)


class CorruptedScoreConfigError(LangfuseError):
    status = 500
    error = "InternalServerError"


@bp.post("/api/public/score-configs")
async def create_config() -> Response:
    scope = await authenticate()
    config = parse_new_config(await read_json())
    row = await score_configs.insert_config(resources().pg, scope.project_id, config)
    log.info("score_config_created", project_id=scope.project_id, config_id=row["id"], data_type=config.data_type)
    return jsonify(config_to_api(row))


@bp.get("/api/public/score-configs")
async def list_configs() -> Response:
    scope = await authenticate()
    page = query_params.page(request.args)
    rows, total = await score_configs.page_configs(
        resources().pg, scope.project_id, limit=page.limit, offset=page.offset
    )
    data = []
    for row in rows:
        problem = stored_config_problem(row)
        if problem is None:
            data.append(config_to_api(row))
        else:  # Langfuse leaves such rows out of the list too
            log.warning("score_config_corrupted", project_id=scope.project_id, config_id=row["id"], problem=problem)
    return jsonify({"data": data, "meta": page.meta(total)})


@bp.get("/api/public/score-configs/<path:config_id>")
async def get_config(config_id: str) -> Response:
    scope = await authenticate()
    row = await score_configs.get_config(resources().pg, scope.project_id, config_id)
    if row is None:
        raise NotFoundError("Score config not found within authorized project")
    problem = stored_config_problem(row)
    if problem is not None:
        log.error("score_config_corrupted", project_id=scope.project_id, config_id=config_id, problem=problem)
        raise CorruptedScoreConfigError("Requested score config is corrupted")
    return jsonify(config_to_api(row))


@bp.patch("/api/public/score-configs/<path:config_id>")
async def update_config(config_id: str) -> Response:
    scope = await authenticate()
    body = await read_json()
    fields = updated_fields(body)  # the body's shape is checked before the config is looked up
    row = await score_configs.update_config(
        resources().pg, scope.project_id, config_id, lambda current: apply_update(current, body)
    )
    if row is None:
        raise NotFoundError("Score config not found within authorized project")
    log.info("score_config_updated", project_id=scope.project_id, config_id=config_id, fields=fields)
    return jsonify(config_to_api(row))
