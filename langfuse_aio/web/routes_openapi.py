"""GET /api/public/openapi.json and /openapi.yml: the OpenAPI document of the routes we serve.

Both files are package data written by `scripts/build_openapi.py` from Langfuse's own API
description, cut down to the operations in this app's url_map (`public_operations`); a test
compares the two so the document cannot drift from the routes. No authentication, as the
document holds nothing project-specific.
"""

from __future__ import annotations

import functools
import re
from importlib import resources as package_files

from quart import Blueprint, Quart, Response

bp = Blueprint("openapi", __name__)

PUBLIC_PREFIX = "/api/public/"
DOCUMENT_ROUTES = ("/api/public/openapi.json", "/api/public/openapi.yml")
IGNORED_METHODS = frozenset({"HEAD", "OPTIONS"})
_QUART_PARAM = re.compile(r"<[^>]+>")
_OPENAPI_PARAM = re.compile(r"\{[^}]+\}")


def path_shape(path: str) -> str:
    """A route path with every parameter as `{}`: `/traces/<path:trace_id>` and `/traces/{traceId}` agree."""
    return _OPENAPI_PARAM.sub("{}", _QUART_PARAM.sub("{}", path))


def public_operations(app: Quart) -> set[tuple[str, str]]:
    """(path shape, lower-case method) of every /api/public route, except HEAD/OPTIONS and this document."""
    operations: set[tuple[str, str]] = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(PUBLIC_PREFIX) or rule.rule in DOCUMENT_ROUTES:
            continue
        for method in rule.methods or ():
            if method not in IGNORED_METHODS:
                operations.add((path_shape(rule.rule), method.lower()))
    return operations


@functools.cache
def _document(name: str) -> bytes:
    return package_files.files("langfuse_aio.web").joinpath(name).read_bytes()


@bp.get("/api/public/openapi.json")
async def openapi_json() -> Response:
    return Response(_document("openapi.json"), content_type="application/json")


@bp.get("/api/public/openapi.yml")
async def openapi_yml() -> Response:
    return Response(_document("openapi.yml"), content_type="application/yaml; charset=utf-8")
