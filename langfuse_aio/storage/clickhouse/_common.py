"""What both ClickHouse backends share: table column types, row grouping, error text.

Both backends decode results with clickhouse-connect's Native decoder (the chDB backend feeds it
chDB's Native output), so the Python value of every ClickHouse type is the same in both:

| ClickHouse | Python |
| --- | --- |
| DateTime64(p) / DateTime | `datetime`, tz-aware, UTC |
| Date | `date` |
| Map(K, V) | `dict` |
| Array(T) | `list` |
| Nullable(T) NULL | `None` |
| Decimal(P, S) (Decimal64(12) costs) | `decimal.Decimal` with exactly S fraction digits |
| Bool | `bool` |
| (U)Int* | `int` |
| Float* | `float` |
| String, LowCardinality(String) | `str` |

Inserts take the same values back, prepared by `column_data` identically for both backends:
DateTime64 columns take `datetime` (a naive one is taken as UTC) or an ISO-8601 string; Decimal
columns also take `int` and `float`, converted through `str()` and cut (not rounded) to the
column's scale, as clickhouse-connect does. `None` in a non-Nullable column is refused.
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from clickhouse_connect.datatypes.registry import get_from_name
from clickhouse_connect.driver.binding import quote_identifier

from langfuse_aio.storage.clickhouse.base import ClickHouseError, Row

if TYPE_CHECKING:
    from clickhouse_connect.datatypes.base import ClickHouseType

_URL_SUFFIX = re.compile(r"\s*\(for url [^)]*\)\s*$")

ColumnTypes = dict[str, "ClickHouseType"]


def error_message(exc: BaseException) -> str:
    """ClickHouse's own message (`Code: N. DB::Exception: …`) when the error carries one."""
    text = str(exc)
    start = text.find("Code: ")
    if start >= 0:
        text = text[start:]
    return _URL_SUFFIX.sub("", text).strip()


def qualified(database: str, table: str) -> str:
    return f"{quote_identifier(database)}.{quote_identifier(table)}"


def describe_sql(database: str, table: str) -> str:
    return f"DESCRIBE TABLE {qualified(database, table)}"


def parse_described(rows: Sequence[Row]) -> ColumnTypes:
    """Column name → clickhouse-connect type, from `DESCRIBE TABLE` rows (insertable columns only)."""
    return {
        str(r["name"]): get_from_name(str(r["type"]))
        for r in rows
        if r.get("default_type", "") not in ("MATERIALIZED", "ALIAS", "EPHEMERAL")
    }


class TableColumns:
    """Per-table column types, fetched with DESCRIBE once and again when a row names an unknown column."""

    def __init__(self, database: str, query: Callable[[str], Awaitable[list[Row]]]) -> None:
        self._database = database
        self._query = query
        self._tables: dict[str, ColumnTypes] = {}

    def forget(self) -> None:
        """Drop cached types (after DDL)."""
        self._tables.clear()

    async def groups(self, table: str, rows: Sequence[Row]) -> list[tuple[ColumnTypes, list[Row]]]:
        """Rows grouped by the columns they set, each group with those columns' types in table order.

        Columns a row leaves out get their DEFAULT; a batch mixing column sets becomes one insert per set.
        """
        by_keys: dict[frozenset[str], list[Row]] = {}
        for row in rows:
            by_keys.setdefault(frozenset(row), []).append(row)
        wanted = frozenset().union(*by_keys)
        types = self._tables.get(table)
        if types is None or not wanted <= types.keys():
            types = parse_described(await self._query(describe_sql(self._database, table)))
            self._tables[table] = types
        unknown = sorted(wanted - types.keys())
        if unknown:
            raise ClickHouseError(f"No such column {', '.join(unknown)} in table {qualified(self._database, table)}")
        return [
            ({name: ch_type for name, ch_type in types.items() if name in keys}, group)
            for keys, group in by_keys.items()
        ]


def column_data(types: ColumnTypes, rows: Sequence[Row]) -> list[list[Any]]:
    """One list of values per column of `types` (rows set exactly those columns), normalised."""
    columns: list[list[Any]] = []
    for name, ch_type in types.items():
        values = [row[name] for row in rows]
        normalize = _normalizer(ch_type)
        if normalize is not None:
            values = [normalize(value) for value in values]
        if not ch_type.nullable and None in values:
            raise ClickHouseError(f"Invalid None value in non-Nullable column, column name: `{name}`")
        columns.append(values)
    return columns


def _normalizer(ch_type: ClickHouseType) -> Callable[[Any], Any] | None:
    typed: Any = ch_type
    base = ch_type.base_type
    if base == "Decimal":
        quantum = decimal.Decimal(1).scaleb(-int(typed.scale))
        return lambda v: _to_decimal(v, quantum)
    if base in ("DateTime64", "DateTime"):
        return _to_utc
    if base in ("Map", "Array"):
        element = _normalizer(typed.value_type if base == "Map" else typed.element_type)
        if element is None:
            return None
        if base == "Map":
            return lambda m: None if m is None else {k: element(v) for k, v in m.items()}
        return lambda a: None if a is None else [element(v) for v in a]
    return None


def _to_decimal(value: Any, quantum: decimal.Decimal) -> Any:
    if value is None:
        return None
    try:
        number = value if isinstance(value, decimal.Decimal) else decimal.Decimal(str(value))
        return number.quantize(quantum, rounding=decimal.ROUND_DOWN)
    except decimal.InvalidOperation as exc:
        raise ClickHouseError(f"cannot insert {value!r} into a Decimal column") from exc


def _to_utc(value: Any) -> Any:
    if type(value) is datetime and value.tzinfo is not None:
        return value
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            raise ClickHouseError(f"cannot insert {value!r} into a DateTime column") from exc
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
