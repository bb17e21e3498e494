"""GET /api/public/sessions, /api/public/sessions/{id}."""

from __future__ import annotations

from quart import Blueprint

bp = Blueprint("sessions", __name__)
