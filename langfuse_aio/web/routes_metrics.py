"""GET /api/public/metrics/daily."""

from __future__ import annotations

from quart import Blueprint

bp = Blueprint("metrics", __name__)
