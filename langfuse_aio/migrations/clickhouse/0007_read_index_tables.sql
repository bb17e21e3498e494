-- The three read indexes and the materialized views that feed them from now on. Rows written
-- before the views existed are copied by the worker's background job `read_index_backfill`
-- (migrations/background/read_index_backfill.py), in bounded chunks, so start-up reads none of
-- them; readers use an index only once 0008's state table says it is complete. This file was
-- first released as `0007_read_indexes.sql`, whose INSERT ... SELECT statements filled the indexes
-- during the migration itself: 0008 recognises such installs by that recorded name.
-- trace_user_index: every trace version that has a user, ordered by (project, user, day, id), so
-- the trace list filtered by userId reads one user's rows instead of a FINAL over every trace of
-- the project (every granule of `traces` holds every user, so idx_user_id skips nothing), and a
-- page's full rows sit in one or two granules instead of one granule per trace. Not a Langfuse
-- table; only storage/clickhouse/trace_user_queries.py reads it. It holds every column of
-- `traces` (tests/unit/test_clickhouse_render.py checks it): a column added to `traces` must be
-- added here and to the view too.
-- Both tables here are read in many short ranges (a user's rows, 50 traces' observations): small
-- granules and compressed blocks make each range cost a few kB instead of a 64 kB-1 MB block.
-- Fed by a materialized view on every insert into `traces` (tombstones too, so a trace that moved
-- day leaves its old key here as it does there). It is a superset: it keeps the key of a trace
-- whose user changed within its day, and of a trace removed by a lightweight DELETE; readers find
-- the days holding such keys and verify them against `traces`.
CREATE TABLE IF NOT EXISTS trace_user_index {on_cluster} (
    `id` String,
    `timestamp` DateTime64(3),
    `name` String,
    `user_id` String,
    `metadata` Map(LowCardinality(String), String),
    `release` Nullable(String),
    `version` Nullable(String),
    `project_id` String,
    `environment` LowCardinality(String) DEFAULT 'default',
    `public` Bool,
    `bookmarked` Bool,
    `tags` Array(String),
    `input` Nullable(String) CODEC(ZSTD(3)),
    `output` Nullable(String) CODEC(ZSTD(3)),
    `session_id` Nullable(String),
    `created_at` DateTime64(3),
    `updated_at` DateTime64(3),
    `event_ts` DateTime64(3),
    `is_deleted` UInt8
) ENGINE = {replacing_merge_tree}(event_ts, is_deleted)
PARTITION BY toYYYYMM(timestamp)
ORDER BY (project_id, user_id, toDate(timestamp), id)
SETTINGS index_granularity = 256, min_compress_block_size = 4096, max_compress_block_size = 16384;
CREATE MATERIALIZED VIEW IF NOT EXISTS trace_user_index_mv {on_cluster} TO trace_user_index AS
SELECT id, timestamp, name, assumeNotNull(user_id) AS user_id, metadata, release, version, project_id, environment,
       public, bookmarked, tags, input, output, session_id, created_at, updated_at, event_ts, is_deleted
FROM traces WHERE traces.user_id IS NOT NULL;
-- `traces.user_id` is qualified: `user_id` alone would be the alias above, never NULL.
-- observation_trace_index: the figures the trace list shows per trace (observation ids, times,
-- cost) ordered by (project, trace, id), so a page of 50 traces spread over days reads 50 small
-- ranges instead of every observation granule that holds one of them (a trace's observations lie
-- in one granule per type, and a page's traces in many). Deduplicated as `observations` is per
-- (trace_id, id): the latest version of each id among its versions with that trace_id, which is
-- what the list read from `observations` before. Only storage/clickhouse/trace_detail_queries.py
-- reads it; deletions remove rows here too (deletion_queries).
CREATE TABLE IF NOT EXISTS observation_trace_index {on_cluster} (
    `project_id` String,
    `trace_id` String,
    `id` String,
    `start_time` DateTime64(3),
    `end_time` Nullable(DateTime64(3)),
    `cost` Decimal64(12),
    `event_ts` DateTime64(3),
    `is_deleted` UInt8
) ENGINE = {replacing_merge_tree}(event_ts, is_deleted)
PARTITION BY toYYYYMM(start_time)
ORDER BY (project_id, trace_id, id)
SETTINGS index_granularity = 256, min_compress_block_size = 4096, max_compress_block_size = 16384;
CREATE MATERIALIZED VIEW IF NOT EXISTS observation_trace_index_mv {on_cluster} TO observation_trace_index AS
SELECT project_id, trace_id, id, start_time, end_time, ifNull(total_cost, cost_details['total']) AS cost, event_ts,
       is_deleted
FROM observations;
-- score_trace_index: the same for the scores the trace list shows (their ids, newest first),
-- `renderable` being what the list keeps (a NUMERIC, CATEGORICAL or BOOLEAN score with a finite
-- value, a CATEGORICAL one only with its string value).
CREATE TABLE IF NOT EXISTS score_trace_index {on_cluster} (
    `project_id` String,
    `trace_id` String,
    `id` String,
    `timestamp` DateTime64(3),
    `renderable` UInt8,
    `event_ts` DateTime64(3),
    `is_deleted` UInt8
) ENGINE = {replacing_merge_tree}(event_ts, is_deleted)
PARTITION BY toYYYYMM(timestamp)
ORDER BY (project_id, trace_id, id)
SETTINGS index_granularity = 256, min_compress_block_size = 4096, max_compress_block_size = 16384;
CREATE MATERIALIZED VIEW IF NOT EXISTS score_trace_index_mv {on_cluster} TO score_trace_index AS
SELECT project_id, trace_id, id, timestamp,
       (data_type IN ('NUMERIC', 'CATEGORICAL', 'BOOLEAN') AND isFinite(value)
        AND (data_type != 'CATEGORICAL' OR string_value IS NOT NULL)) AS renderable, event_ts, is_deleted
FROM scores;
