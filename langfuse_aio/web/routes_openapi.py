"""the OpenAPI document of the routes we serve."""

from __future__ import annotations

from quart import Blueprint

bp = Blueprint("openapi", __name__)
