-- langfuse-aio's own table (not Langfuse's): events the worker could never process, with the reason.
-- The events themselves stay in the blob store; `blob_keys` says where.
CREATE TABLE IF NOT EXISTS langfuse_aio_ingestion_errors (
    id bigserial PRIMARY KEY,
    project_id text NOT NULL,
    entity_type text NOT NULL,
    entity_id text NOT NULL,
    reason text NOT NULL,
    blob_keys text[] NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS langfuse_aio_ingestion_errors_project_id_created_at_idx
    ON langfuse_aio_ingestion_errors (project_id, created_at);
