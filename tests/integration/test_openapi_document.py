"""The served OpenAPI document describes exactly the /api/public routes of the running app."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from openapi_schema_validator import OAS30Validator
from quart import Quart
from quart.typing import TestClientProtocol as Client

from langfuse_aio import __version__
from langfuse_aio.web.routes_openapi import path_shape, public_operations

pytestmark = pytest.mark.integration

METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
REBUILD = "the document is out of date: run `.venv/bin/python scripts/build_openapi.py`"


async def served_document(client: Client) -> dict[str, Any]:
    response = await client.get("/api/public/openapi.json")  # no Authorization header
    assert response.status_code == 200
    assert response.content_type == "application/json"
    document: dict[str, Any] = json.loads(await response.get_data())
    return document


def refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if "$ref" in node else set()
        return found.union(*(refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(refs(v) for v in node))
    return set()


async def test_document_lists_every_route_the_app_serves_and_nothing_else(app: Quart, client: Client) -> None:
    document = await served_document(client)
    described = {(path_shape(path), method) for path, item in document["paths"].items()
                 for method in item if method in METHODS}
    served = public_operations(app)

    undocumented = sorted(f"{m.upper()} {p}" for p, m in served - described)
    not_served = sorted(f"{m.upper()} {p}" for p, m in described - served)
    assert not undocumented, f"served but not in the document: {undocumented}; {REBUILD}"
    assert not not_served, f"in the document but not served: {not_served}; {REBUILD}"
    assert ("/api/public/traces/{}", "get") in served  # the comparison sees the real routes


async def test_document_names_our_server_and_keeps_langfuse_attribution(client: Client) -> None:
    info = (await served_document(client))["info"]
    assert info["title"] == "langfuse-aio"
    assert info["version"] == __version__
    assert info["license"]["name"] == "MIT"
    assert "Langfuse" in info["description"]


async def test_document_is_self_contained_and_valid(client: Client) -> None:
    document = await served_document(client)
    schemas = document["components"]["schemas"]
    dangling = {r for r in refs(document) if r.removeprefix("#/components/schemas/") not in schemas}
    assert not dangling
    operation_ids = [op["operationId"] for item in document["paths"].values()
                     for method, op in item.items() if method in METHODS]
    assert len(operation_ids) == len(set(operation_ids))
    for schema in schemas.values():
        OAS30Validator.check_schema(schema)  # raises on a malformed component


async def test_yaml_route_serves_the_same_document(client: Client) -> None:
    response = await client.get("/api/public/openapi.yml")
    assert response.status_code == 200
    assert response.content_type.startswith("application/yaml")
    assert yaml.safe_load(await response.get_data(as_text=True)) == await served_document(client)
