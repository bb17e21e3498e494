"""The pure core stays pure: domain/ imports no I/O layer and no I/O library."""

from __future__ import annotations

import ast
from pathlib import Path

DOMAIN = Path(__file__).resolve().parents[2] / "langfuse_aio" / "domain"
FORBIDDEN = (
    "langfuse_aio.web", "langfuse_aio.jobs", "langfuse_aio.storage", "langfuse_aio.runtime",
    "langfuse_aio.services", "quart", "hypercorn", "arq", "redis", "psycopg", "psycopg_pool",
    "chdb", "clickhouse_connect", "aioboto3", "boto3", "asyncio",
)


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_domain_modules_import_no_io() -> None:
    files = sorted(DOMAIN.glob("*.py"))
    assert len(files) >= 3
    offenders = {
        f"{path.name}: {name}"
        for path in files
        for name in imported_modules(path)
        if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN)
    }
    assert offenders == set()
