"""GET and POST /api/public/score-configs, GET /score-configs/{id}."""

from __future__ import annotations

from quart import Blueprint

bp = Blueprint("score_configs", __name__)
