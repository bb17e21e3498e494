-- background_migrations as in Langfuse v2.92-v3.0.0 (20241024111800 + state from 20241104111600),
-- and its four seeded rows (Prisma data migrations dated 2024-10-24), with Langfuse's fixed ids so
-- Langfuse and we recognise the same rows. A row that exists (same id or same name) is left as it
-- is: finished_at, failed_at, locked_at, worker_id and state are progress and must survive.

CREATE TABLE IF NOT EXISTS "background_migrations" (
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

    CONSTRAINT "background_migrations_pkey" PRIMARY KEY ("id")
);

ALTER TABLE "background_migrations"
    ADD COLUMN IF NOT EXISTS "finished_at" TIMESTAMP(3),
    ADD COLUMN IF NOT EXISTS "failed_at" TIMESTAMP(3),
    ADD COLUMN IF NOT EXISTS "failed_reason" TEXT,
    ADD COLUMN IF NOT EXISTS "worker_id" TEXT,
    ADD COLUMN IF NOT EXISTS "locked_at" TIMESTAMP(3),
    ADD COLUMN IF NOT EXISTS "state" JSONB NOT NULL DEFAULT '{}';

CREATE UNIQUE INDEX IF NOT EXISTS "background_migrations_name_key" ON "background_migrations"("name");

-- Run order is by name. Without a conflict target, DO NOTHING skips a row that clashes on the id
-- (primary key) or on the name (unique index).
INSERT INTO "background_migrations" ("id", "name", "script", "args") VALUES
    ('32859a35-98f5-4a4a-b438-ebc579349e00', '20241024_1216_add_generations_cost_backfill',
     'addGenerationsCostBackfill', '{}'),
    ('5960f22a-748f-480c-b2f3-bc4f9d5d84bc', '20241024_1730_migrate_traces_from_pg_to_ch',
     'migrateTracesFromPostgresToClickhouse', '{}'),
    ('7526e7c9-0026-4595-af2c-369dfd9176ec', '20241024_1737_migrate_observations_from_pg_to_ch',
     'migrateObservationsFromPostgresToClickhouse', '{}'),
    ('94e50334-50d3-4e49-ad2e-9f6d92c85ef7', '20241024_1738_migrate_scores_from_pg_to_ch',
     'migrateScoresFromPostgresToClickhouse', '{}')
ON CONFLICT DO NOTHING;
