"""Validate response bodies against Langfuse's OpenAPI documents in tests/fixtures.

    assert_valid(body, "TraceWithFullDetails")                       # a named component schema
    assert_valid_response(body, "/api/public/traces/{traceId}")      # a route's response schema

The body is first sent through `json.dumps(..., allow_nan=False)`/`json.loads`, so it must be
exactly what the server can put on the wire (no datetime, Decimal or NaN left), and is then
checked with openapi-schema-validator's OAS 3.0 validator (`nullable`, `format: date-time`) with
every `$ref` resolved. The documents are fern-generated, and three of their habits would reject
valid data, so the loaded document is adjusted (the fixture files stay byte-for-byte upstream):

1. `nullable: true` beside a `$ref` (e.g. `usage`) is ignored by OAS 3.0 rules; it is honoured.
2. `oneOf` is read as `anyOf`. fern emits `oneOf` for unions whose branches overlap in JSON
   Schema: with `nullable` in every branch (MapValue) null matches all of them, and an integer
   matches both `integer` and `number`. The discriminated unions (Score) stay exclusive anyway,
   because each branch pins `dataType` to a different value.
3. ERRATA: corrections a later upstream document made, applied to the older one.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import yaml
from jsonschema.exceptions import ValidationError, best_match
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
DEFAULT_SPEC = "openapi-v3.0.0.yml"
_URI = "urn:langfuse-openapi"

# spec file → component name → schema to use instead, with the reason.
ERRATA: dict[str, dict[str, tuple[dict[str, Any], str]]] = {
    "openapi-v3.0.0.yml": {
        "MapValue": (
            {
                "anyOf": [
                    {"type": "string", "nullable": True},
                    {"type": "integer", "nullable": True},
                    {"type": "number", "nullable": True},
                    {"type": "boolean", "nullable": True},
                    {"type": "array", "items": {"type": "string"}, "nullable": True},
                ]
            },
            "model parameters such as temperature are floats; Langfuse returns JSON.parse(model_parameters), "
            "and the current document adds `number` to MapValue",
        ),
    },
}


def _adjust(node: Any) -> Any:
    if isinstance(node, list):
        return [_adjust(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _adjust(value) for key, value in node.items()}
    if "$ref" in node and node.get("nullable") is True:
        node = {"anyOf": [{"$ref": node["$ref"]}, {"enum": [None]}]}
    if "oneOf" in node:
        node["anyOf"] = node.pop("oneOf")
    return node


@functools.cache
def load_spec(spec: str = DEFAULT_SPEC) -> dict[str, Any]:
    """The adjusted OpenAPI document `tests/fixtures/<spec>` (cached; do not mutate)."""
    document: dict[str, Any] = yaml.safe_load((FIXTURES / spec).read_text())
    document = _adjust(document)
    schemas = document["components"]["schemas"]
    for name, (schema, _reason) in ERRATA.get(spec, {}).items():
        schemas[name] = copy.deepcopy(schema)
    return document


@functools.cache
def _registry(spec: str) -> Registry:
    return Registry().with_resource(_URI, Resource.from_contents(load_spec(spec), default_specification=DRAFT4))


def _wire(instance: Any) -> Any:
    return json.loads(json.dumps(instance, allow_nan=False))


def _errors(instance: Any, pointer: str, spec: str) -> list[ValidationError]:
    validator = OAS30Validator({"$ref": f"{_URI}#{pointer}"}, registry=_registry(spec),
                               format_checker=oas30_format_checker)
    return list(validator.iter_errors(_wire(instance)))


def _describe(errors: list[ValidationError]) -> str:
    lines = []
    for error in errors:
        detail = best_match([error]) if not error.context else best_match(error.context)
        where = "/".join(str(p) for p in detail.absolute_path) or "<root>"
        lines.append(f"at {where}: {detail.message}")
    return "\n".join(lines)


def schema_errors(instance: Any, component: str, *, spec: str = DEFAULT_SPEC) -> list[str]:
    """Readable problems of `instance` against `#/components/schemas/<component>` (empty when valid)."""
    if component not in load_spec(spec)["components"]["schemas"]:
        raise KeyError(f"{spec} has no component schema {component!r}")
    errors = _errors(instance, f"/components/schemas/{component}", spec)
    return _describe(errors).splitlines() if errors else []


def assert_valid(instance: Any, component: str, *, spec: str = DEFAULT_SPEC) -> None:
    problems = schema_errors(instance, component, spec=spec)
    assert not problems, f"not a valid {component} ({spec}):\n" + "\n".join(problems)


def response_pointer(path: str, method: str = "get", status: int = 200, *, spec: str = DEFAULT_SPEC) -> str:
    """The JSON pointer of a route's `application/json` response schema."""
    operation = load_spec(spec)["paths"][path][method.lower()]
    response = operation["responses"][str(status)]
    if "application/json" not in response.get("content", {}):
        raise KeyError(f"{method.upper()} {path} has no JSON body for {status} in {spec}")
    escaped = path.replace("~", "~0").replace("/", "~1")
    return f"/paths/{escaped}/{method.lower()}/responses/{status}/content/application~1json/schema"


def assert_valid_response(
    body: Any, path: str, method: str = "get", status: int = 200, *, spec: str = DEFAULT_SPEC
) -> None:
    """`body` against the response schema OpenAPI declares for `method path` → `status`."""
    errors = _errors(body, response_pointer(path, method, status, spec=spec), spec)
    assert not errors, f"not a valid {method.upper()} {path} {status} body ({spec}):\n" + _describe(errors)
