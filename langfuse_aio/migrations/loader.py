"""Numbered SQL migrations shipped inside the package.

Files are named `NNNN_description.sql`. The loader refuses gaps and duplicate numbers so a
bad merge fails at start, not halfway through a deploy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationLayoutError(Exception):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations(package: str) -> list[Migration]:
    """Every migration in `package` (e.g. "langfuse_aio.migrations.postgres"), by version."""
    found: dict[int, Migration] = {}
    for entry in resources.files(package).iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _NAME.match(entry.name)
        if match is None:
            raise MigrationLayoutError(f"{package}: {entry.name} is not named NNNN_description.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationLayoutError(f"{package}: two migrations numbered {version:04d}")
        found[version] = Migration(version, match.group(2), entry.read_text(encoding="utf-8"))
    versions = sorted(found)
    expected = list(range(1, len(versions) + 1))
    if versions != expected:
        missing = sorted(set(expected) - set(versions)) or [versions[-1]]
        raise MigrationLayoutError(f"{package}: migration numbers have a gap near {missing[0]:04d}")
    return [found[v] for v in versions]


def split_statements(sql: str) -> list[str]:
    """Split a script on statement-ending semicolons at line ends; comments-only chunks are dropped."""
    statements: list[str] = []
    for chunk in re.split(r";[ \t]*(?:\n|$)", sql):
        lines = [ln for ln in chunk.splitlines() if ln.strip() and not ln.strip().startswith("--")]
        if lines:
            statements.append("\n".join(lines).strip())
    return statements
