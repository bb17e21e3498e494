"""Requests through the Quart test client, authenticated as a test project."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from quart.typing import TestClientProtocol as Client

from tests.factories import TestProject


def with_query(path: str, params: Any = None) -> str:
    """`path` with `params` (a dict or a list of pairs; lists repeat the parameter) as its query."""
    return f"{path}?{urlencode(params, doseq=True)}" if params else path


async def api_get(client: Client, project: TestProject, path: str, params: Any = None) -> tuple[int, Any]:
    """GET with the project's Basic key: (status, JSON body)."""
    response = await client.get(with_query(path, params), headers=project.basic)
    return response.status_code, await response.get_json()
