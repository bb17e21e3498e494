"""The ClickHouse port: what the rest of the package may ask of ClickHouse.

Two backends implement it: embedded chDB (`chdb_backend`) and a ClickHouse server over HTTP
through clickhouse-connect (`http_backend`). SQL uses server-side bound parameters
`{name:Type}`; values never go into the SQL text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

Row = dict[str, Any]
Params = Mapping[str, Any]


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

    async def ping(self) -> None:
        """Raise ClickHouseError unless the store answers."""

    async def close(self) -> None: ...
