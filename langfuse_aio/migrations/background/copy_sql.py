"""The v2 → ClickHouse conversion of `domain.v2_rows`, done by Postgres in SQL (v2-migration spec §2.6).

The background copy moves millions of rows; converting them in Python and building insert columns
caps it near 25k rows/s on one GIL. Here Postgres renders each row as one JSON line holding the
ClickHouse row (an array in `COLUMNS` order), and ClickHouse parses the lines
(`INSERT … (COLUMNS) FORMAT JSONCompactEachRow`) in C++: Python only
joins bytes. `domain.v2_rows` stays the reference (live ingestion's merge baseline uses it) and
tests/integration/test_background_migration_scripts.py checks that both produce the same ClickHouse rows.

DateTime64 values go as text, never numbers (§2.6.4): json's ISO 8601 'YYYY-MM-DDTHH:MM:SS.mmm'
(v2's `timestamp(3)` holds UTC; the ClickHouse port reads insert text as UTC);
costs are cut to Decimal64(12) with `trunc` and left out when outside its range; metadata becomes
the Map live ingestion makes. Metadata holding a non-integral number (anywhere: `1.50`, `1e-7`) is
the one case SQL does not render like JavaScript's `String()`/`JSON.stringify`:
for those rows the metadata's JSON text comes along in a second column, and `json_lines` replaces
the line's metadata with `domain.v2_rows.metadata_map`'s (rare: such rows cost a JSON round trip).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

import orjson

from langfuse_aio.domain.records import DEFAULT_ENVIRONMENT
from langfuse_aio.domain.v2_rows import metadata_map
from langfuse_aio.storage.postgres.legacy_rows import ALIASES, Table, loads_json

_STRING: Final = r'"(?:[^"\\]|\\.)*"'  # a JSON string literal in jsonb's text
# jsonb text (`{"a": [1, 2]}`) as JSON.stringify writes it (`{"a":[1,2]}`): spaces after , and : outside strings
_COMPACT: Final = "regexp_replace({}, '(" + _STRING + r")|([,:]) ', '\1\2', 'g')"
_FRACTIONAL: Final = "regexp_replace({}::text, '" + _STRING + "', '', 'g') ~ '[0-9][.eE]'"
_ENVIRONMENT: Final = DEFAULT_ENVIRONMENT.replace("'", "''")


def _ts(column: str) -> str:
    # json renders timestamp(3) as ISO 8601 text, 'YYYY-MM-DDTHH:MM:SS.mmm' (fraction trimmed, whatever the
    # DateStyle), which ClickHouse parses as to_char's 'YYYY-MM-DD HH24:MI:SS.MS' at a third of the cost
    return column


def _cost(column: str) -> str:
    """`_cost` of domain.v2_rows: cut to 12 places, NULL when outside Decimal64(12) (or NaN/±Infinity)."""
    return f"CASE WHEN {column} > -1e6 AND {column} < 1e6 THEN trunc({column}, 12) END"


def _costs(a: str, prefix: str) -> str:
    keys = ("input", "output", "total")
    pairs = ", ".join(f"'{key}', {_cost(f'{a}.{prefix}{key}_cost')}" for key in keys)
    all_null = " AND ".join(f"{a}.{prefix}{key}_cost IS NULL" for key in keys)
    return f"CASE WHEN {all_null} THEN '{{}}'::json ELSE json_strip_nulls(json_build_object({pairs})) END"


def _metadata(m: str) -> str:
    """`metadata_map` of a jsonb column, for values without non-integral numbers (see module doc)."""
    value = (f"CASE jsonb_typeof(e.value) WHEN 'string' THEN e.value #>> '{{}}'"
             f" WHEN 'object' THEN {_COMPACT.format('e.value::text')}"
             f" WHEN 'array' THEN {_COMPACT.format('e.value::text')} ELSE e.value::text END")
    return (f"COALESCE(CASE jsonb_typeof({m})"
            f" WHEN 'object' THEN (SELECT json_object_agg(e.key, {value}) FROM jsonb_each({m}) e)"
            f" WHEN 'string' THEN CASE WHEN {m} #>> '{{}}' <> '' THEN json_build_object('metadata', {m} #>> '{{}}') END"
            f" WHEN 'array' THEN json_build_object('metadata', {_COMPACT.format(f'{m}::text')})"
            f" WHEN 'number' THEN CASE WHEN {m}::text <> '0' THEN json_build_object('metadata', {m}::text) END"
            " END, '{}'::json)")


def _metadata_join(m: str) -> str:
    # as a lateral subquery (OFFSET 0 keeps it one) it costs a third less than inline in json_build_array;
    # the exact test (numbers outside strings) runs only where a cheap one finds a digit before . e E at all
    fallback = f"CASE WHEN {m}::text ~ '[0-9][.eE]' AND {_FRACTIONAL.format(m)} THEN {m}::text END"
    return f"CROSS JOIN LATERAL (SELECT {_metadata(m)} AS metadata, {fallback} AS fallback OFFSET 0) lm"


# In place of a metadata that Python converts: a JSON string no Postgres text can produce (text holds
# no NUL, and jsonb refuses \u0000), so the first match in a line is this slot and nothing else.
_SLOT: Final = b'"\\u0000"'
_METADATA: Final = f"CASE WHEN lm.fallback IS NULL THEN lm.metadata ELSE '{_SLOT.decode()}'::json END"


Pairs = tuple[tuple[str, str], ...]  # (ClickHouse column, SQL expression)


def _observation_pairs(*, prompts: bool) -> Pairs:
    o = "o"
    pairs = (
        ("id", "o.id"), ("trace_id", "COALESCE(o.trace_id, '')"), ("project_id", "o.project_id"),
        ("environment", f"'{_ENVIRONMENT}'::text"), ("type", "o.type::text"),
        ("parent_observation_id", "o.parent_observation_id"), ("start_time", _ts("o.start_time")),
        ("end_time", _ts("o.end_time")), ("name", "COALESCE(o.name, '')"),
        ("metadata", _METADATA),
        ("level", "COALESCE(o.level::text, 'DEFAULT')"), ("status_message", "o.status_message"),
        ("version", "o.version"), ("input", "NULLIF(o.input::text, 'null')"),
        ("output", "NULLIF(o.output::text, 'null')"), ("provided_model_name", "o.model"),
        ("internal_model_id", "o.internal_model_id"),
        ("model_parameters", "NULLIF(o.\"modelParameters\"::text, 'null')"),
        ("provided_usage_details", "'{}'::json"),
        ("usage_details", "json_build_object('input', GREATEST(COALESCE(o.prompt_tokens, 0), 0),"
                          " 'output', GREATEST(COALESCE(o.completion_tokens, 0), 0),"
                          " 'total', GREATEST(COALESCE(o.total_tokens, 0), 0))"),
        ("provided_cost_details", _costs(o, "")), ("cost_details", _costs(o, "calculated_")),
        ("total_cost", _cost("o.calculated_total_cost")),
        ("completion_start_time", _ts("o.completion_start_time")), ("prompt_id", "o.prompt_id"),
        ("prompt_name", "p.name" if prompts else "NULL::text"),
        ("prompt_version", "p.version" if prompts else "NULL::integer"),
        ("created_at", _ts("o.created_at")), ("updated_at", _ts("o.updated_at")),
        ("event_ts", _ts("o.start_time")), ("is_deleted", "0"),
    )
    return pairs


def _trace_pairs() -> Pairs:
    pairs = (
        ("id", "t.id"), ("timestamp", _ts("t.timestamp")), ("name", "COALESCE(t.name, '')"),
        ("user_id", "t.user_id"),
        ("metadata", _METADATA),
        ("release", "t.release"), ("version", "t.version"), ("project_id", "t.project_id"),
        ("environment", f"'{_ENVIRONMENT}'::text"), ("public", "COALESCE(t.public, false)"),
        ("bookmarked", "COALESCE(t.bookmarked, false)"), ("tags", "to_json(COALESCE(t.tags, '{}'::text[]))"),
        ("input", "NULLIF(t.input::text, 'null')"), ("output", "NULLIF(t.output::text, 'null')"),
        ("session_id", "t.session_id"), ("created_at", _ts("t.created_at")), ("updated_at", _ts("t.updated_at")),
        ("event_ts", _ts("t.timestamp")), ("is_deleted", "0"),
    )
    return pairs


def _score_pairs() -> Pairs:
    pairs = (
        ("id", "s.id"), ("timestamp", _ts("s.timestamp")), ("project_id", "s.project_id"),
        ("environment", f"'{_ENVIRONMENT}'::text"), ("trace_id", "COALESCE(s.trace_id, '')"),
        ("session_id", "NULL::text"), ("observation_id", "s.observation_id"), ("name", "COALESCE(s.name, '')"),
        ("value", "COALESCE(s.value, 0)::float8"), ("source", "s.source::text"), ("comment", "s.comment"),
        ("metadata", "'{}'::json"), ("author_user_id", "s.author_user_id"), ("config_id", "s.config_id"),
        ("data_type", "COALESCE(s.data_type::text, 'NUMERIC')"), ("string_value", "s.string_value"),
        ("queue_id", "s.queue_id"), ("created_at", _ts("s.created_at")), ("updated_at", _ts("s.updated_at")),
        ("event_ts", _ts("s.timestamp")), ("is_deleted", "0"),
    )
    return pairs


def _pairs(table: Table, *, prompts: bool) -> Pairs:
    if table == "traces":
        return _trace_pairs()
    if table == "scores":
        return _score_pairs()
    return _observation_pairs(prompts=prompts)


FORMAT: Final = "JSONCompactEachRow"  # one JSON array per row, in COLUMNS order: no keys to write or parse
COLUMNS: Final[dict[Table, tuple[str, ...]]] = {
    table: tuple(name for name, _ in _pairs(table, prompts=False)) for table in ("traces", "observations", "scores")
}


def lines_from(table: Table, *, prompts: bool) -> str:
    """`SELECT <JSON line>, <metadata text or NULL> FROM <table> <alias> …`, to be followed by WHERE/ORDER BY."""
    array = "json_build_array(" + ", ".join(expr for _, expr in _pairs(table, prompts=prompts)) + ")::text"
    if table == "scores":
        return f"SELECT {array}, NULL::text FROM scores s"
    m = f"{ALIASES[table]}.metadata"
    source = "observations o LEFT JOIN prompts p ON o.prompt_id = p.id" if prompts else f"{table} {ALIASES[table]}"
    return f"SELECT {array}, lm.fallback FROM {source} {_metadata_join(m)}"


def lines_query(table: Table, where: str, *, prompts: bool) -> str:
    alias = ALIASES[table]
    return f"{lines_from(table, prompts=prompts)} WHERE {where} ORDER BY {alias}.created_at DESC, {alias}.id DESC"


def json_lines(rows: Sequence[tuple[bytes, bytes | None]]) -> bytes:
    """The rows' JSON lines as one `FORMAT` body, with Python's metadata map where SQL could not make it."""
    return b"\n".join([line if meta is None else _with_metadata(line, meta) for line, meta in rows])


def _with_metadata(line: bytes, meta: bytes) -> bytes:
    # spliced as text: parsing the line would turn its costs into floats
    return line.replace(_SLOT, orjson.dumps(metadata_map(loads_json(meta))), 1)


def last_cursor(table: Table, line: bytes) -> tuple[datetime, str]:
    """(created_at naive UTC, id) of a JSON line: where the next batch starts."""
    row = orjson.loads(line)
    columns = COLUMNS[table]
    return datetime.fromisoformat(row[columns.index("created_at")]), str(row[columns.index("id")])
