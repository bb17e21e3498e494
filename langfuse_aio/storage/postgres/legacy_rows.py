"""The v2 `traces`, `observations`, `scores` tables read as ClickHouse rows (v2-migration spec §2.5, §2.7).

One SELECT list per table (§2.5.3's columns) shared by the background copy and by `legacy_rows`, the
merge baseline live ingestion uses for entities that exist only in v2 Postgres; both convert with
`domain.v2_rows`, so an entity reads the same whichever path wrote it. input/output/modelParameters
are selected as JSON text (`::text`) so Python never parses them (see `domain.v2_rows`), and the
`timestamp(3)` columns (UTC by Prisma's convention) as `timestamptz` read in a `TimeZone = 'UTC'`
transaction, so psycopg hands out UTC-aware datetimes itself (cheaper than fixing each in Python).

`prompts` (for an observation's prompt name and version) is Langfuse v2's table; our own migrations
do not create it, so the join is used only when the table exists (`has_prompts`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Literal

import orjson
from psycopg import AsyncConnection
from psycopg.abc import AdaptContext
from psycopg.rows import dict_row
from psycopg.types.json import set_json_loads
from psycopg_pool import AsyncConnectionPool

from langfuse_aio.domain.v2_rows import Row, observation_row, score_row, trace_row

Table = Literal["traces", "observations", "scores"]
UTC_SESSION: Final = "SET LOCAL TimeZone = 'UTC'"  # timestamptz values then load as datetime.UTC-aware


def _utc(alias: str, column: str) -> str:
    """A `timestamp(3)` column (UTC by Prisma's convention) selected as timestamptz, so it loads tz-aware."""
    return f"{alias}.\"{column}\" AT TIME ZONE 'UTC' AS \"{column}\""

_TRACE_COLUMNS: Final = (
    f't.id, {_utc("t", "timestamp")}, t.name, t.user_id, t.metadata, t.release, t.version, t.project_id,'
    " t.public, t.bookmarked, t.tags, t.input::text AS input, t.output::text AS output, t.session_id,"
    f" {_utc('t', 'created_at')}, {_utc('t', 'updated_at')}"
)
_OBSERVATION_COLUMNS: Final = (
    "o.id, o.trace_id, o.project_id, o.type::text AS type, o.parent_observation_id,"
    f" {_utc('o', 'start_time')}, {_utc('o', 'end_time')}, o.name, o.metadata, o.level::text AS level,"
    " o.status_message, o.version, o.input::text AS input, o.output::text AS output, o.model,"
    ' o.internal_model_id, o."modelParameters"::text AS model_parameters, o.prompt_tokens,'
    f" o.completion_tokens, o.total_tokens, {_utc('o', 'completion_start_time')}, o.prompt_id,"
    " {prompt_name} AS prompt_name, {prompt_version} AS prompt_version, o.input_cost, o.output_cost,"
    " o.total_cost, o.calculated_input_cost, o.calculated_output_cost, o.calculated_total_cost,"
    f" {_utc('o', 'created_at')}, {_utc('o', 'updated_at')}"
)
_SCORE_COLUMNS: Final = (
    f"s.id, {_utc('s', 'timestamp')}, s.project_id, s.trace_id, s.observation_id, s.name, s.value,"
    " s.source::text AS source, s.comment, s.author_user_id, s.config_id, s.data_type::text AS data_type,"
    f" s.string_value, s.queue_id, {_utc('s', 'created_at')}, {_utc('s', 'updated_at')}"
)

CONVERTERS: Final[dict[Table, Callable[[Mapping[str, Any]], Row]]] = {
    "traces": trace_row, "observations": observation_row, "scores": score_row,
}
ALIASES: Final[dict[Table, str]] = {"traces": "t", "observations": "o", "scores": "s"}


def select_from(table: Table, *, prompts: bool) -> str:
    """`SELECT <columns> FROM <table> <alias> [LEFT JOIN prompts]`, to be followed by WHERE/ORDER BY."""
    if table == "traces":
        return f"SELECT {_TRACE_COLUMNS} FROM traces t"
    if table == "scores":
        return f"SELECT {_SCORE_COLUMNS} FROM scores s"
    if prompts:
        columns = _OBSERVATION_COLUMNS.format(prompt_name="p.name", prompt_version="p.version")
        return f"SELECT {columns} FROM observations o LEFT JOIN prompts p ON o.prompt_id = p.id"
    columns = _OBSERVATION_COLUMNS.format(prompt_name="NULL::text", prompt_version="NULL::integer")
    return f"SELECT {columns} FROM observations o"


_LONG_DIGITS: Final = re.compile(rb"[0-9]{19}")


def loads_json(data: str | bytes) -> Any:
    """orjson where it parses exactly as the stdlib does (it turns integers beyond 64 bits into floats)."""
    raw = data.encode() if isinstance(data, str) else data
    if _LONG_DIGITS.search(raw) is None:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return json.loads(raw)


def fast_jsonb(context: AdaptContext) -> None:
    """Parse jsonb (metadata) on this cursor with orjson: about twice as fast as `json.loads`."""
    set_json_loads(loads_json, context)


async def has_prompts(conn: AsyncConnection[Any]) -> bool:
    """Whether Langfuse v2's `prompts` table exists in the connection's search path."""
    cur = await conn.execute("SELECT to_regclass('prompts') IS NOT NULL")
    found = await cur.fetchone()
    return bool(found and found[0])


async def legacy_rows(
    pg: AsyncConnectionPool[Any], table: Table, project_id: str, ids: Sequence[str]
) -> dict[str, Row]:
    """The project's v2 rows with these ids, converted to ClickHouse rows, by id (absent ids left out)."""
    if not ids:
        return {}
    alias = ALIASES[table]
    async with pg.connection() as conn, conn.transaction():
        query = (f"{select_from(table, prompts=await has_prompts(conn))}"
                 f" WHERE {alias}.project_id = %s AND {alias}.id = ANY(%s)")
        await conn.execute(UTC_SESSION)
        async with conn.cursor(row_factory=dict_row) as cur:
            fast_jsonb(cur)
            await cur.execute(query.encode(), (project_id, list(ids)))
            rows = await cur.fetchall()
    convert = CONVERTERS[table]
    return {str(row["id"]): convert(row) for row in rows}
