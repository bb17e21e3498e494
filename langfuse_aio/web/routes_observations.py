"""GET /api/public/observations, /observations/{id}, /v2/observations."""

from __future__ import annotations

from quart import Blueprint

bp = Blueprint("observations", __name__)
