from __future__ import annotations

import re

import pytest

from langfuse_aio.migrations.background.read_index_plan import SOURCES
from langfuse_aio.migrations.clickhouse_apply import (
    MIGRATIONS_PACKAGE,
    RECORD_DDL,
    ClickHouseTemplateError,
    render,
)
from langfuse_aio.migrations.loader import load_migrations, split_statements

_TABLE_STATEMENT = re.compile(
    r"^(?:CREATE TABLE IF NOT EXISTS|ALTER TABLE|CREATE MATERIALIZED VIEW IF NOT EXISTS|DROP (?:VIEW|TABLE) IF EXISTS)"
    r" (\w+)(?: |$)(.*)", re.DOTALL
)
_STATE = "INSERT INTO langfuse_aio_read_index_state "  # 0008's and 0009's state rows: data, run on one node


def _statements(cluster: str | None) -> list[str]:
    sources = [m.sql for m in load_migrations(MIGRATIONS_PACKAGE)] + [RECORD_DDL]
    return [st for sql in sources for st in split_statements(render(sql, cluster=cluster))]


def test_loader_finds_every_clickhouse_migration() -> None:
    migrations = load_migrations(MIGRATIONS_PACKAGE)
    assert [(m.version, m.name) for m in migrations] == [
        (1, "traces"),
        (2, "observations"),
        (3, "scores"),
        (4, "environment"),
        (5, "scores_session_metadata"),
        (6, "observations_trace_id_index"),
        (7, "read_index_tables"),
        (8, "read_index_state"),
        (9, "trace_copies"),
    ]
    assert [len(split_statements(m.sql)) for m in migrations] == [1, 1, 1, 3, 2, 3, 6, 2, 9]


def test_clustered_variant_puts_on_cluster_after_every_table_and_replicates_every_engine() -> None:
    statements = _statements("lf_cluster")
    assert len(statements) == 29
    for statement in statements:
        if statement.startswith(_STATE):
            assert "ON CLUSTER" not in statement and "{" not in statement
            continue
        match = _TABLE_STATEMENT.match(statement)
        assert match is not None, statement
        assert f"{match.group(2)} ".startswith("ON CLUSTER `lf_cluster` "), statement
        assert statement.count("ON CLUSTER") == 1
        if statement.startswith("CREATE TABLE"):
            engine = re.search(r"ENGINE = (\w+)", statement)
            assert engine is not None
            assert engine.group(1) in ("ReplicatedReplacingMergeTree", "ReplicatedMergeTree")
        assert "{" not in statement


def test_unclustered_variant_has_no_cluster_and_no_replication() -> None:
    statements = _statements(None)
    assert len(statements) == 29
    engines = []
    for statement in statements:
        assert _TABLE_STATEMENT.match(statement) is not None or statement.startswith(_STATE), statement
        assert "ON CLUSTER" not in statement
        assert "Replicated" not in statement
        assert "{" not in statement
        engines += re.findall(r"ENGINE = (\w+)\(?", statement)
    assert engines == ["ReplacingMergeTree"] * 6 + ["MergeTree"] + ["ReplacingMergeTree"] * 2 + ["MergeTree"]


def test_tables_keep_langfuse_keys_and_leave_out_the_dropped_index() -> None:
    traces, observations, scores = _statements(None)[:3]
    assert "ReplacingMergeTree(event_ts, is_deleted)" in traces
    assert "ORDER BY (project_id, toDate(timestamp), id)" in traces
    assert "idx_session_id" in traces and "idx_user_id" in traces
    assert "ORDER BY (project_id, `type`, toDate(start_time), id)" in observations
    assert "idx_project_id" not in observations
    assert "ORDER BY (project_id, toDate(timestamp), name, id)" in scores


def test_cluster_names_are_quoted_and_bad_templates_refused() -> None:
    assert render("ALTER TABLE t {on_cluster} DROP INDEX i", cluster="a`b") == (
        "ALTER TABLE t ON CLUSTER `a``b` DROP INDEX i"
    )
    with pytest.raises(ClickHouseTemplateError):
        render("CREATE TABLE t {cluster} (a UInt8)", cluster=None)
    with pytest.raises(ClickHouseTemplateError):
        render("SELECT 1", cluster=" ")


def test_migrations_copy_no_table_the_read_index_backfill_does_it() -> None:
    """Start-up must not scan traces, observations or scores: the INSERTs write 0008's and 0009's state
    rows, reading at most one row of each table; the rows before 0007 and 0009 are the background job's."""
    inserts = [st for st in _statements(None) if "INSERT" in st]
    assert len(inserts) == 2 and all(insert.startswith(_STATE) for insert in inserts)
    for table in ("traces", "observations", "scores"):
        assert f"(SELECT 1 FROM {table} LIMIT 1)" in inserts[0]
    assert sorted(re.findall(r"FROM (\w+)", inserts[0])) == [  # and our record of applied migrations
        "langfuse_aio_schema_migrations", "observations", "scores", "traces"]
    assert sorted(re.findall(r"FROM (\w+)", inserts[1])) == ["observations", "scores"]
    for table in ("observations", "scores"):
        assert f"(SELECT 1 FROM {table} LIMIT 1)" in inserts[1]


def test_the_backfill_selects_what_each_materialized_view_selects() -> None:
    views = {}
    for statement in _statements(None):
        match = re.match(r"CREATE MATERIALIZED VIEW IF NOT EXISTS (\w+)_mv\s+TO (\w+) AS\s+(.*)", statement, re.DOTALL)
        if match is not None:
            assert match.group(1) == match.group(2)
            views[match.group(1)] = " ".join(match.group(3).split())
        dropped = re.match(r"DROP VIEW IF EXISTS (\w+)_mv\b", statement)
        if dropped is not None:
            del views[dropped.group(1)]
    assert views == {source.index: source.view_select for source in SOURCES}


def test_0009_drops_the_key_only_indexes_after_their_views() -> None:
    drops = [st.split()[1:5:3] for st in _statements(None) if st.startswith("DROP ")]
    assert drops == [["VIEW", "observation_trace_index_mv"], ["TABLE", "observation_trace_index"],
                     ["VIEW", "score_trace_index_mv"], ["TABLE", "score_trace_index"]]
