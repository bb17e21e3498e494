"""The Quart application factory. Stores come in ready-made; the app never opens resources itself."""

from __future__ import annotations

from quart import Quart, Response

from langfuse_aio.runtime.resources import Resources
from langfuse_aio.services.ingestion import IngestionProducer
from langfuse_aio.web import (
    routes_ingestion,
    routes_legacy,
    routes_metrics,
    routes_models,
    routes_observations,
    routes_openapi,
    routes_otel,
    routes_score_configs,
    routes_scores,
    routes_sessions,
    routes_system,
    routes_trace_deletion,
    routes_traces,
)
from langfuse_aio.web.body import MAX_BODY_BYTES
from langfuse_aio.web.errors import register_error_handlers
from langfuse_aio.web.otlp import MAX_OTLP_BODY_BYTES


def create_app(resources: Resources) -> Quart:
    app = Quart("langfuse_aio")
    app.config["RESOURCES"] = resources
    # the largest body any route takes (OTLP); read_body() enforces each route's own limit
    app.config["MAX_CONTENT_LENGTH"] = max(MAX_BODY_BYTES, MAX_OTLP_BODY_BYTES)
    app.config["JSON_SORT_KEYS"] = False
    app.json.sort_keys = False  # type: ignore[attr-defined]
    register_error_handlers(app)
    app.config["PRODUCER"] = IngestionProducer(
        blob=resources.blob,
        redis=resources.redis,
        prefix=resources.settings.s3.prefix,
        delay_ms=resources.settings.ingestion_queue_delay_ms,
    )
    blueprints = (
        routes_system, routes_ingestion, routes_legacy, routes_traces, routes_observations, routes_scores,
        routes_score_configs, routes_sessions, routes_metrics, routes_openapi, routes_otel, routes_models,
        routes_trace_deletion,
    )
    for module in blueprints:
        app.register_blueprint(module.bp)

    @app.after_request
    async def cors(response: Response) -> Response:
        response.headers.setdefault("Access-Control-Allow-Origin", "*")
        return response

    return app
