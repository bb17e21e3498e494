"""The Quart application factory. Stores come in ready-made; the app never opens resources itself."""

from __future__ import annotations

from quart import Quart, Response

from langfuse_aio.runtime.resources import Resources
from langfuse_aio.web import routes_system
from langfuse_aio.web.errors import register_error_handlers

MAX_BODY_BYTES = 4_500_000  # Langfuse (Vercel) limit; larger bodies get 413


def create_app(resources: Resources) -> Quart:
    app = Quart("langfuse_aio")
    app.config["RESOURCES"] = resources
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.config["JSON_SORT_KEYS"] = False
    app.json.sort_keys = False  # type: ignore[attr-defined]
    register_error_handlers(app)
    app.register_blueprint(routes_system.bp)

    @app.after_request
    async def cors(response: Response) -> Response:
        response.headers.setdefault("Access-Control-Allow-Origin", "*")
        return response

    return app
