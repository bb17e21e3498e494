-- observations.idx_trace_id with a 0.1 % false-positive rate (Langfuse's `bloom_filter()` is 2.5 %):
-- the trace list reads the observations of 50 trace ids at once, and at 2.5 % per id a granule
-- passes the filter with probability 1 - 0.975^50 = 72 %, so the index skipped little. At 0.1 % it
-- is 5 %. The index keeps Langfuse's name; MATERIALIZE rebuilds it for existing parts in the
-- background (reads stay correct meanwhile, only slower).
ALTER TABLE observations {on_cluster} DROP INDEX IF EXISTS idx_trace_id;
ALTER TABLE observations {on_cluster} ADD INDEX IF NOT EXISTS idx_trace_id trace_id TYPE bloom_filter(0.001) GRANULARITY 1;
ALTER TABLE observations {on_cluster} MATERIALIZE INDEX idx_trace_id;
