-- langfuse_aio_read_index_state: which read indexes of 0007 hold every row of their table. Not a
-- Langfuse table. Readers (storage/clickhouse/read_index_state.py) use an index once one of its
-- rows says `complete = 1`, and read the tables themselves before that; a state never goes back.
-- Written here once, and by the worker's backfill job when it has copied an index's rows.
CREATE TABLE IF NOT EXISTS langfuse_aio_read_index_state {on_cluster} (
    `index_name` LowCardinality(String),
    `complete` UInt8,
    `updated_at` DateTime64(3)
) ENGINE = {merge_tree}
ORDER BY index_name;
-- An index is complete now when its table is empty (the view exists, so every row to come reaches
-- it: no backfill, no fallback for a fresh install), or when 0007 ran under its first name,
-- `read_indexes`, whose INSERT ... SELECT statements copied every row (recorded only after they
-- succeeded). Otherwise it waits for the backfill. Both checks read one row at most.
INSERT INTO langfuse_aio_read_index_state (index_name, complete, updated_at)
SELECT index_name,
       source_empty OR (SELECT count() FROM langfuse_aio_schema_migrations
                        WHERE version = 7 AND name = 'read_indexes') > 0,
       now64(3)
FROM (
    SELECT 'trace_user_index' AS index_name, (SELECT count() FROM (SELECT 1 FROM traces LIMIT 1)) = 0 AS source_empty
    UNION ALL
    SELECT 'observation_trace_index', (SELECT count() FROM (SELECT 1 FROM observations LIMIT 1)) = 0
    UNION ALL
    SELECT 'score_trace_index', (SELECT count() FROM (SELECT 1 FROM scores LIMIT 1)) = 0
);
