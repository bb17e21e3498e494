"""The ClickHouse port: what the rest of the package may ask of ClickHouse.

Two backends implement it: embedded chDB (`chdb_backend`) and a ClickHouse server over HTTP
through clickhouse-connect (`http_backend`). SQL uses server-side bound parameters
`{name:Type}`; values never go into the SQL text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

Row = dict[str, Any]
Params = Mapping[str, Any]


RAW_FORMATS = frozenset({"JSONEachRow", "JSONCompactEachRow"})  # what insert_formatted accepts
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_raw_insert(table: str, fmt: str, columns: Sequence[str]) -> None:
    """Refuse names that are not plain identifiers and a format outside `RAW_FORMATS`."""
    for name in (table, *columns):
        if _IDENTIFIER.fullmatch(name) is None:
            raise ClickHouseError(f"not a table or column name: {name!r}")
    if fmt not in RAW_FORMATS:
        raise ClickHouseError(f"unsupported insert format: {fmt!r}")


class ClickHouseError(Exception):
    """A query or insert failed in ClickHouse (bad SQL, unreachable server, rejected data)."""


class ClickHouse(Protocol):
    database: str

    async def command(self, sql: str, params: Params | None = None) -> None:
        """Run a statement that returns no rows (DDL, DELETE, OPTIMIZE)."""

    async def query(self, sql: str, params: Params | None = None) -> list[Row]:
        """Run a SELECT and return its rows as dicts keyed by column name."""

    async def insert(self, table: str, rows: Sequence[Row]) -> None:
        """Insert rows (dicts keyed by column) into `table` of `self.database`.

        DateTime64 values are given as `datetime` (UTC) objects; Map columns as dicts."""

    async def insert_formatted(self, table: str, fmt: str, data: bytes, columns: Sequence[str] = ()) -> None:
        """Insert `data`, already in the ClickHouse input format `fmt` (one of `RAW_FORMATS`), into
        `columns` (all, when empty) of `table` of `self.database`: ClickHouse parses it, no Python
        value is built. DateTime64 text is read as UTC."""

    async def ping(self) -> None:
        """Raise ClickHouseError unless the store answers."""

    async def close(self) -> None: ...
