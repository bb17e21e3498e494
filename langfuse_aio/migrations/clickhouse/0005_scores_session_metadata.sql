-- Score columns of Langfuse HEAD that today's SDKs use: session scores (migration 0012) and score
-- metadata (0010). trace_id stays a String: a session-only score stores '' there.
ALTER TABLE scores {on_cluster} ADD COLUMN IF NOT EXISTS metadata Map(LowCardinality(String), String) AFTER comment;
ALTER TABLE scores {on_cluster} ADD COLUMN IF NOT EXISTS session_id Nullable(String) AFTER trace_id;
