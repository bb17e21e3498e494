"""The ClickHouse port on a ClickHouse server, over HTTP with clickhouse-connect's async client.

Parameters are bound server-side (`param_<name>`); results come back as Native blocks decoded
by clickhouse-connect with tz-aware UTC datetimes, the same decoder and values as the chDB
backend (table in `_common`). Inserts name their columns and pass the cached column types, so
no DESCRIBE round trip happens per insert; bodies are compressed (lz4 when installed).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC
from typing import Any
from urllib.parse import urlsplit

import clickhouse_connect
import structlog
from clickhouse_connect.driver.binding import quote_identifier
from clickhouse_connect.driver.exceptions import ClickHouseError as DriverError

from langfuse_aio.storage.clickhouse._common import TableColumns, column_data, error_message, qualified
from langfuse_aio.storage.clickhouse.base import ClickHouseError, Params, Row, check_raw_insert

log = structlog.get_logger(__name__)

_TRANSPORT_ERRORS = (DriverError, OSError, TimeoutError)
_UTC_TEXT = {"session_timezone": "UTC"}  # raw inserts' DateTime64 text is UTC whatever the server's zone


class ClickHouseHttp:
    """Open with `open_http`; the constructor takes a connected clickhouse-connect async client."""

    def __init__(self, client: Any, database: str) -> None:
        self.database = database
        self._client: Any = client
        self._columns = TableColumns(database, self.query)

    async def command(self, sql: str, params: Params | None = None) -> None:
        try:
            await self._client.command(sql, parameters=dict(params) if params else None)
        except _TRANSPORT_ERRORS as exc:
            raise ClickHouseError(error_message(exc)) from exc
        finally:
            self._columns.forget()

    async def query(self, sql: str, params: Params | None = None) -> list[Row]:
        try:
            result = await self._client.query(sql, parameters=dict(params) if params else None, query_tz=UTC)
        except _TRANSPORT_ERRORS as exc:
            raise ClickHouseError(error_message(exc)) from exc
        names = result.column_names
        return [dict(zip(names, row, strict=True)) for row in result.result_rows]

    async def insert(self, table: str, rows: Sequence[Row]) -> None:
        if not rows:
            return
        for types, group in await self._columns.groups(table, rows):
            columns = await asyncio.to_thread(column_data, types, group)
            try:
                await self._client.insert(
                    table,
                    columns,
                    column_names=list(types),
                    database=self.database,
                    column_types=list(types.values()),
                    column_oriented=True,
                )
            except _TRANSPORT_ERRORS as exc:
                raise ClickHouseError(error_message(exc)) from exc

    async def insert_formatted(self, table: str, fmt: str, data: bytes, columns: Sequence[str] = ()) -> None:
        check_raw_insert(table, fmt, columns)
        if not data:
            return
        try:
            await self._client.raw_insert(qualified(self.database, table), column_names=list(columns) or None,
                                          insert_block=data, fmt=fmt, settings=_UTC_TEXT)
        except _TRANSPORT_ERRORS as exc:
            raise ClickHouseError(error_message(exc)) from exc

    async def ping(self) -> None:
        try:
            alive = await self._client.ping()
        except _TRANSPORT_ERRORS as exc:
            raise ClickHouseError(error_message(exc)) from exc
        if not alive:
            raise ClickHouseError("ClickHouse did not answer /ping")

    async def close(self) -> None:
        await self._client.close()


async def open_http(url: str, user: str, password: str, database: str) -> ClickHouseHttp:
    """Connect to `url` (http[s]://host[:port], Langfuse's CLICKHOUSE_URL) and use `database`,
    creating it when it does not exist (on one node: a clustered setup creates it itself)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ClickHouseError(f"a ClickHouse URL must look like http[s]://host[:port], not {url!r}")
    try:
        client: Any = await clickhouse_connect.get_async_client(
            host=parts.hostname,
            port=parts.port or (8443 if parts.scheme == "https" else 8123),
            interface=parts.scheme,
            username=user,
            password=password,
            tz_mode="aware",
            compress=True,
        )
    except _TRANSPORT_ERRORS as exc:
        raise ClickHouseError(error_message(exc)) from exc
    backend = ClickHouseHttp(client, database)
    try:
        exists = await backend.query(
            "SELECT count() AS n FROM system.databases WHERE name = {database:String}", {"database": database}
        )
        if exists[0]["n"] == 0:
            await backend.command(f"CREATE DATABASE IF NOT EXISTS {quote_identifier(database)}")
    except ClickHouseError:
        await client.close()
        raise
    client.database = database
    log.info("clickhouse_http_opened", host=parts.hostname, port=parts.port, database=database)
    return backend
