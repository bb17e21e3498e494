-- observations_by_trace and scores_by_trace: full copies of `observations` and `scores` ordered by
-- (project, trace, id), replacing 0007's key-only observation_trace_index and score_trace_index.
-- Not Langfuse tables. Why: Langfuse's sort keys put a trace's observations in one granule per
-- type and id, and its scores in one per day and name, so GET /api/public/traces/:id had to test the
-- trace_id bloom filter of every granule since the trace's day (~650 of them for 6M observations)
-- and then decompress whole 8,192-row granules of every column: ~17 ms for the observations and
-- ~9 ms for the scores of one trace. Here a trace's rows are one short range: ~6 and ~4.5 ms.
-- The trace list reads its per-trace figures from the same copies (the narrow columns only, so it
-- costs what the key-only indexes cost), hence those are dropped.
-- Cost: the copy of observations takes about 0.86 times the disk of `observations` (312 vs 363 MB
-- for 6M rows; the dropped index took 151 MB), the one of scores about the same as `scores`.
-- Fed by materialized views from now on; rows written before are copied by the worker's backfill
-- job (migrations/background/read_index_backfill.py), and readers use a copy once
-- langfuse_aio_read_index_state records it complete (storage/clickhouse/read_index_state.py).
-- They hold every column of their table (tests/integration/test_read_indexes.py checks it): a
-- column added to `observations` or `scores` must be added here and to the view too.
-- Deletions remove rows here too (storage/clickhouse/deletion_queries.py).
CREATE TABLE IF NOT EXISTS observations_by_trace {on_cluster} (
    `id` String,
    `trace_id` String,
    `project_id` String,
    `environment` LowCardinality(String) DEFAULT 'default',
    `type` LowCardinality(String),
    `parent_observation_id` Nullable(String),
    `start_time` DateTime64(3),
    `end_time` Nullable(DateTime64(3)),
    `name` String,
    `metadata` Map(LowCardinality(String), String),
    `level` LowCardinality(String),
    `status_message` Nullable(String),
    `version` Nullable(String),
    `input` Nullable(String) CODEC(ZSTD(3)),
    `output` Nullable(String) CODEC(ZSTD(3)),
    `provided_model_name` Nullable(String),
    `internal_model_id` Nullable(String),
    `model_parameters` Nullable(String),
    `provided_usage_details` Map(LowCardinality(String), UInt64),
    `usage_details` Map(LowCardinality(String), UInt64),
    `provided_cost_details` Map(LowCardinality(String), Decimal64(12)),
    `cost_details` Map(LowCardinality(String), Decimal64(12)),
    `total_cost` Nullable(Decimal64(12)),
    `completion_start_time` Nullable(DateTime64(3)),
    `prompt_id` Nullable(String),
    `prompt_name` Nullable(String),
    `prompt_version` Nullable(UInt16),
    `created_at` DateTime64(3),
    `updated_at` DateTime64(3),
    `event_ts` DateTime64(3),
    `is_deleted` UInt8
) ENGINE = {replacing_merge_tree}(event_ts, is_deleted)
PARTITION BY toYYYYMM(start_time)
ORDER BY (project_id, trace_id, id)
SETTINGS index_granularity = 1024, min_compress_block_size = 16384, max_compress_block_size = 65536;
CREATE MATERIALIZED VIEW IF NOT EXISTS observations_by_trace_mv {on_cluster} TO observations_by_trace AS
SELECT id, trace_id, project_id, environment, type, parent_observation_id, start_time, end_time, name, metadata,
       level, status_message, version, input, output, provided_model_name, internal_model_id, model_parameters,
       provided_usage_details, usage_details, provided_cost_details, cost_details, total_cost, completion_start_time,
       prompt_id, prompt_name, prompt_version, created_at, updated_at, event_ts, is_deleted
FROM observations;
CREATE TABLE IF NOT EXISTS scores_by_trace {on_cluster} (
    `id` String,
    `timestamp` DateTime64(3),
    `project_id` String,
    `environment` LowCardinality(String) DEFAULT 'default',
    `trace_id` String,
    `session_id` Nullable(String),
    `observation_id` Nullable(String),
    `name` String,
    `value` Float64,
    `source` String,
    `comment` Nullable(String) CODEC(ZSTD(1)),
    `metadata` Map(LowCardinality(String), String),
    `author_user_id` Nullable(String),
    `config_id` Nullable(String),
    `data_type` String,
    `string_value` Nullable(String),
    `queue_id` Nullable(String),
    `created_at` DateTime64(3),
    `updated_at` DateTime64(3),
    `event_ts` DateTime64(3),
    `is_deleted` UInt8
) ENGINE = {replacing_merge_tree}(event_ts, is_deleted)
PARTITION BY toYYYYMM(timestamp)
ORDER BY (project_id, trace_id, id)
SETTINGS index_granularity = 256, min_compress_block_size = 4096, max_compress_block_size = 16384;
CREATE MATERIALIZED VIEW IF NOT EXISTS scores_by_trace_mv {on_cluster} TO scores_by_trace AS
SELECT id, timestamp, project_id, environment, trace_id, session_id, observation_id, name, value, source, comment,
       metadata, author_user_id, config_id, data_type, string_value, queue_id, created_at, updated_at, event_ts,
       is_deleted
FROM scores;
-- The key-only indexes of 0007: their views go first, so no insert feeds a table being dropped.
DROP VIEW IF EXISTS observation_trace_index_mv {on_cluster};
DROP TABLE IF EXISTS observation_trace_index {on_cluster};
DROP VIEW IF EXISTS score_trace_index_mv {on_cluster};
DROP TABLE IF EXISTS score_trace_index {on_cluster};
-- A copy is complete now when its table is empty (no backfill, no fallback for a fresh install);
-- otherwise it waits for the backfill. Each check reads one row at most.
INSERT INTO langfuse_aio_read_index_state (index_name, complete, updated_at)
SELECT index_name, source_empty, now64(3)
FROM (
    SELECT 'observations_by_trace' AS index_name,
           (SELECT count() FROM (SELECT 1 FROM observations LIMIT 1)) = 0 AS source_empty
    UNION ALL
    SELECT 'scores_by_trace', (SELECT count() FROM (SELECT 1 FROM scores LIMIT 1)) = 0
);
