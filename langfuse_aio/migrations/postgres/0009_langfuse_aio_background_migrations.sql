-- langfuse_aio_background_migrations: our own long-running data jobs, in the shape of Langfuse's
-- `background_migrations` and run by the same manager under the same lock protocol (one worker at a
-- time, heartbeat, takeover of a stale lock, progress in `state`). A separate table because
-- Langfuse's worker fails every row whose script it does not know: nothing of ours goes into its
-- table. Seeded with the backfill of the ClickHouse read indexes (ClickHouse migrations 0007/0008),
-- which finishes at once where ClickHouse already records every index complete. A row that exists
-- is left as it is (its progress must survive).

CREATE TABLE IF NOT EXISTS "langfuse_aio_background_migrations" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "script" TEXT NOT NULL,
    "args" JSONB NOT NULL,
    "finished_at" TIMESTAMP(3),
    "failed_at" TIMESTAMP(3),
    "failed_reason" TEXT,
    "worker_id" TEXT,
    "locked_at" TIMESTAMP(3),
    "state" JSONB NOT NULL DEFAULT '{}',

    CONSTRAINT "langfuse_aio_background_migrations_pkey" PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX IF NOT EXISTS "langfuse_aio_background_migrations_name_key"
    ON "langfuse_aio_background_migrations"("name");

INSERT INTO "langfuse_aio_background_migrations" ("id", "name", "script", "args") VALUES
    ('6f1b2c4e-9a0d-4c83-b5e2-7d3a1f0e8c21', '20261205_read_index_backfill', 'backfillReadIndexes', '{}')
ON CONFLICT DO NOTHING;
