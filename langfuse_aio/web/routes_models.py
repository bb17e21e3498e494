"""GET/POST /api/public/models, GET/DELETE /api/public/models/{id}: Basic auth, project-scoped.

Lists and reads show the project's models and the Langfuse-managed ones (`isLangfuseManaged`); only
the project's own models can be deleted (a managed one is overridden by creating a project model of the
same name). Creating or deleting drops this process's cached model lookups of the project at once;
other processes see the change within LANGFUSE_AIO_MODEL_CACHE_TTL_SECONDS.
"""

from __future__ import annotations

import structlog
from quart import Blueprint, Response, jsonify, request

from langfuse_aio.domain import query_params
from langfuse_aio.domain.errors import NotFoundError
from langfuse_aio.domain.model_api import model_to_api, parse_new_model
from langfuse_aio.storage.postgres import model_admin
from langfuse_aio.web.auth import authenticate, resources
from langfuse_aio.web.body import read_json

bp = Blueprint("models", __name__)
log = structlog.get_logger(__name__)

MSG_NOT_FOUND = "No model with this id found."
MSG_NOT_DELETABLE = (
    "No model with this id found. Note: You cannot delete built-in models, override them with a model "
    "with the same name."
)


@bp.post("/api/public/models")
async def create_model() -> Response:
    scope = await authenticate()
    new = parse_new_model(await read_json())
    model = await model_admin.create_model(resources().pg, scope.project_id, new)
    resources().models.invalidate(scope.project_id)
    log.info("model_created", project_id=scope.project_id, model_id=model.id, model_name=model.model_name)
    return jsonify(model_to_api(model))


@bp.get("/api/public/models")
async def list_models() -> Response:
    scope = await authenticate()
    page = query_params.page(request.args)
    models, total = await model_admin.page_models(resources().pg, scope.project_id, limit=page.limit,
                                                  offset=page.offset)
    return jsonify({"data": [model_to_api(m) for m in models], "meta": page.meta(total)})


@bp.get("/api/public/models/<path:model_id>")
async def get_model(model_id: str) -> Response:
    scope = await authenticate()
    model = await model_admin.get_model(resources().pg, scope.project_id, model_id)
    if model is None:
        raise NotFoundError(MSG_NOT_FOUND)
    return jsonify(model_to_api(model))


@bp.delete("/api/public/models/<path:model_id>")
async def delete_model(model_id: str) -> Response:
    scope = await authenticate()
    if not await model_admin.delete_model(resources().pg, scope.project_id, model_id):
        raise NotFoundError(MSG_NOT_DELETABLE)
    resources().models.invalidate(scope.project_id)
    log.info("model_deleted", project_id=scope.project_id, model_id=model_id)
    return Response(status=204)
