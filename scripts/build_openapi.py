"""Write langfuse_aio/web/openapi.json and openapi.yml: the OpenAPI document of what we serve.

    .venv/bin/python scripts/build_openapi.py [--current PATH] [--fallback PATH] [--check]

The operations come from the app itself: every /api/public route in `create_app(...)`'s url_map
(except HEAD/OPTIONS and the document routes). Each is described by the first source that has it:

1. Langfuse's current API description (openapi-current.yml, what today's SDKs are built against);
2. Langfuse's v3.0.0 description (tests/fixtures/openapi-v3.0.0.yml), for routes that Langfuse
   has since removed from its document (GET /metrics/daily, GET /scores, GET /scores/{scoreId});
3. LEGACY below, for the deprecated single-object routes that no document describes.

Component schemas referenced by the kept operations are copied transitively, each from the
first source that defines it. A route no source describes is an error: describe it in LEGACY or
in Langfuse's document first. --check compares with the committed files and exits 1 if they differ.
Needs PyYAML (a test dependency); the server itself reads only the written files.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
from pathlib import Path
from typing import Any, cast

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from langfuse_aio import __version__  # noqa: E402
from langfuse_aio.settings import load_settings  # noqa: E402
from langfuse_aio.web.app import create_app  # noqa: E402
from langfuse_aio.web.routes_openapi import path_shape, public_operations  # noqa: E402

OUT_DIR = ROOT / "langfuse_aio" / "web"
CURRENT_CANDIDATES = (ROOT / "tests/fixtures/openapi-current.yml", Path("/work/shared/reference/openapi-current.yml"))
FALLBACK = ROOT / "tests/fixtures/openapi-v3.0.0.yml"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
REF_PREFIX = "#/components/schemas/"

LICENSE_NOTE = (
    "This document is derived from the Langfuse public API description (fern-generated openapi.yml of "
    "https://github.com/langfuse/langfuse, MIT License, Copyright (c) Langfuse GmbH), cut down by langfuse-aio "
    "to the routes it serves."
)

_ID_RESPONSE = {
    "200": {
        "description": "",
        "content": {"application/json": {"schema": {
            "type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}}},
    },
    "400": {"description": "", "content": {"application/json": {"schema": {}}}},
    "401": {"description": "", "content": {"application/json": {"schema": {}}}},
}


def _legacy(operation_id: str, summary: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "description": f"**Deprecated** (Langfuse's pre-ingestion-API route, kept for old SDKs). {summary}",
        "operationId": operation_id,
        "tags": ["Legacy"],
        "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
        "responses": copy.deepcopy(_ID_RESPONSE),
        "security": [{"BasicAuth": []}],
        "deprecated": True,
    }


def _with_id_key(base: str, key: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "object", "allOf": [{"$ref": REF_PREFIX + base}],
            "properties": {key: {"type": "string"}, **(extra or {})}, "required": [key]}


_PROMPT_ALIASES = {"prompt": {"nullable": True, "description": "alias of input"},
                   "completion": {"nullable": True, "description": "alias of output"}}

LEGACY: dict[str, dict[str, dict[str, Any]]] = {
    "/api/public/traces": {"post": _legacy(
        "legacy_traceCreate", "Creates a trace as a `trace-create` event; `id` is generated when missing.",
        {"$ref": REF_PREFIX + "TraceBody"})},
    "/api/public/events": {"post": _legacy(
        "legacy_eventCreate", "Creates an EVENT observation; `id` is generated when missing.",
        {"$ref": REF_PREFIX + "CreateEventBody"})},
    "/api/public/spans": {
        "post": _legacy("legacy_spanCreate", "Creates a SPAN observation; `id` is generated when missing.",
                        {"$ref": REF_PREFIX + "CreateSpanBody"}),
        "patch": _legacy("legacy_spanUpdate", "Updates the SPAN `spanId`.", _with_id_key("CreateSpanBody", "spanId")),
    },
    "/api/public/generations": {
        "post": _legacy(
            "legacy_generationCreate",
            "Creates a GENERATION observation; `prompt`/`completion` are accepted for `input`/`output`.",
            {"type": "object", "allOf": [{"$ref": REF_PREFIX + "CreateGenerationBody"}],
             "properties": _PROMPT_ALIASES}),
        "patch": _legacy("legacy_generationUpdate", "Updates the GENERATION `generationId`.",
                         _with_id_key("CreateGenerationBody", "generationId", _PROMPT_ALIASES)),
    },
}


def served_operations() -> set[tuple[str, str]]:
    """The app's routes; the app is built on unopened stores, as only its url_map is read."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings({"LANGFUSE_AIO_DATA_DIR": tmp})
        app = create_app(cast(Any, _UrlMapOnly(settings)))
    return public_operations(app)


class _UrlMapOnly:
    def __init__(self, settings: Any) -> None:
        self.settings, self.blob, self.redis = settings, None, None


def load(path: Path) -> dict[str, Any]:
    return cast(dict[str, Any], yaml.safe_load(path.read_text()))


def refs_in(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        for value in node.values():
            found |= refs_in(value)
        return found
    if isinstance(node, list):
        return set().union(*(refs_in(item) for item in node)) if node else set()
    return set()


def build(sources: list[dict[str, Any]], served: set[tuple[str, str]]) -> dict[str, Any]:
    described = [*sources, {"paths": LEGACY, "components": {"schemas": {}}}]
    paths: dict[str, dict[str, Any]] = {}
    missing = []
    for shape, method in sorted(served):
        for source in described:
            match = next((p for p in source["paths"] if path_shape(p) == shape and method in source["paths"][p]), None)
            if match is not None:
                item = paths.setdefault(match, {})
                item[method] = copy.deepcopy(source["paths"][match][method])
                shared = {k: v for k, v in source["paths"][match].items() if k not in METHODS}
                item.update(copy.deepcopy(shared))  # path-level parameters, if any
                break
        else:
            missing.append(f"{method.upper()} {shape}")
    if missing:
        raise SystemExit("no OpenAPI description for: " + ", ".join(missing) + " (add it to LEGACY)")

    schemas: dict[str, Any] = {}
    pending = refs_in(paths)
    while pending:
        ref = pending.pop()
        if not ref.startswith(REF_PREFIX):
            raise SystemExit(f"unsupported $ref {ref}")
        name = ref[len(REF_PREFIX):]
        if name in schemas:
            continue
        schema = next((s["components"]["schemas"][name] for s in sources if name in s["components"]["schemas"]), None)
        if schema is None:
            raise SystemExit(f"component {name} is in no source document")
        schemas[name] = copy.deepcopy(schema)
        pending |= refs_in(schema) - {REF_PREFIX + n for n in schemas}

    head = sources[0]
    info = {
        "title": "langfuse-aio",
        "version": __version__,
        "description": LICENSE_NOTE + "\n\n" + head["info"].get("description", ""),
        "license": {"name": "MIT", "url": "https://github.com/langfuse/langfuse/blob/main/LICENSE"},
    }
    ordered_paths = {p: {m: paths[p][m] for m in sorted(paths[p], key=_method_order)} for p in sorted(paths)}
    return {
        "openapi": head["openapi"],
        "info": info,
        "paths": ordered_paths,
        "components": {
            "schemas": {name: schemas[name] for name in sorted(schemas)},
            "securitySchemes": copy.deepcopy(head["components"]["securitySchemes"]),
        },
    }


def _method_order(key: str) -> int:
    return METHODS.index(key) if key in METHODS else -1


def render(document: dict[str, Any]) -> tuple[str, str]:
    as_json = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    as_yaml = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=120)
    return as_json, as_yaml


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--current", type=Path, default=next((p for p in CURRENT_CANDIDATES if p.exists()), None))
    parser.add_argument("--fallback", type=Path, default=FALLBACK)
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed files are out of date")
    args = parser.parse_args()
    if args.current is None:
        raise SystemExit("openapi-current.yml not found; pass --current")
    document = build([load(args.current), load(args.fallback)], served_operations())
    outputs = dict(zip(("openapi.json", "openapi.yml"), render(document), strict=True))
    if args.check:
        stale = [n for n, text in outputs.items() if not (OUT_DIR / n).exists() or (OUT_DIR / n).read_text() != text]
        print("out of date: " + ", ".join(stale) if stale else "up to date")
        return 1 if stale else 0
    for name, text in outputs.items():
        (OUT_DIR / name).write_text(text)
    ops = sum(len(item) for item in document["paths"].values())
    print(f"wrote {OUT_DIR / 'openapi.json'} and openapi.yml: {len(document['paths'])} paths, {ops} operations, "
          f"{len(document['components']['schemas'])} schemas")
    return 0


if __name__ == "__main__":
    sys.exit(main())
