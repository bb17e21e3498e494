"""One JSON error handler per error class, in Langfuse's envelope `{message, error}`."""

from __future__ import annotations

import structlog
from quart import Quart, Response, jsonify
from werkzeug.exceptions import HTTPException

from langfuse_aio.domain.errors import LangfuseError

log = structlog.get_logger(__name__)


def _json(status: int, message: str, error: str) -> tuple[Response, int]:
    return jsonify({"message": message, "error": error}), status


def register_error_handlers(app: Quart) -> None:
    @app.errorhandler(LangfuseError)
    async def domain_error(exc: LangfuseError) -> tuple[Response, int]:
        return jsonify(exc.response_body()), exc.status

    @app.errorhandler(HTTPException)
    async def http_error(exc: HTTPException) -> tuple[Response, int]:
        status = exc.code or 500
        if status == 405:
            return _json(405, "Method not allowed", "MethodNotAllowedError")
        if status == 404:
            return _json(404, "Route not found", "LangfuseNotFoundError")
        if status == 413:
            return _json(413, "Request body too large", "PayloadTooLargeError")
        return _json(status, exc.description or exc.name, exc.name.replace(" ", "") + "Error")

    @app.errorhandler(Exception)
    async def unexpected(exc: Exception) -> tuple[Response, int]:
        log.exception("request_failed", error=str(exc))
        return _json(500, "Internal Server Error", "An unknown error occurred")
