"""GET /api/public/scores, GET and DELETE /scores/{id}, GET /v2/scores, /v3/scores."""

from __future__ import annotations

from quart import Blueprint

bp = Blueprint("scores", __name__)
