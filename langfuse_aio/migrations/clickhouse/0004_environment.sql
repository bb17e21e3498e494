-- `environment` as Langfuse adds it in its HEAD migration 0008 (v3.29.0); current SDKs send it.
-- IF NOT EXISTS keeps this a no-op on a database that a newer Langfuse already migrated.
ALTER TABLE traces {on_cluster} ADD COLUMN IF NOT EXISTS environment LowCardinality(String) DEFAULT 'default' AFTER project_id;
ALTER TABLE observations {on_cluster} ADD COLUMN IF NOT EXISTS environment LowCardinality(String) DEFAULT 'default' AFTER project_id;
ALTER TABLE scores {on_cluster} ADD COLUMN IF NOT EXISTS environment LowCardinality(String) DEFAULT 'default' AFTER project_id;
