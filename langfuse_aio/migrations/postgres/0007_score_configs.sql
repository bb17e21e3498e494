-- Langfuse's `score_configs` (as v2.95 and v3.0.0 keep it), read by the score-configs API and by the
-- worker when a score names a `configId`. Same additive rules as 0002 and 0005: created only if
-- missing; on a Langfuse database every statement below is a no-op.

CREATE TABLE IF NOT EXISTS "score_configs" (
    "id" TEXT NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "project_id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "data_type" "ScoreDataType" NOT NULL,
    "is_archived" BOOLEAN NOT NULL DEFAULT false,
    "min_value" DOUBLE PRECISION,
    "max_value" DOUBLE PRECISION,
    "categories" JSONB,
    "description" TEXT,

    CONSTRAINT "score_configs_pkey" PRIMARY KEY ("id")
);

ALTER TABLE "score_configs"
    ADD COLUMN IF NOT EXISTS "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    ADD COLUMN IF NOT EXISTS "updated_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    ADD COLUMN IF NOT EXISTS "is_archived" BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS "min_value" DOUBLE PRECISION,
    ADD COLUMN IF NOT EXISTS "max_value" DOUBLE PRECISION,
    ADD COLUMN IF NOT EXISTS "categories" JSONB,
    ADD COLUMN IF NOT EXISTS "description" TEXT;

CREATE UNIQUE INDEX IF NOT EXISTS "score_configs_id_project_id_key" ON "score_configs"("id", "project_id");
CREATE INDEX IF NOT EXISTS "score_configs_project_id_idx" ON "score_configs"("project_id");

DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_constraint
        WHERE conname = 'score_configs_project_id_fkey' AND conrelid = '"score_configs"'::regclass
    ) THEN
        ALTER TABLE "score_configs" ADD CONSTRAINT "score_configs_project_id_fkey" FOREIGN KEY ("project_id")
            REFERENCES "projects"("id") ON DELETE CASCADE ON UPDATE CASCADE;
    END IF;
END
$$;

-- scores_config_id_fkey (v2 `scores` -> score_configs), which 0005 left out for want of this table.
-- Langfuse v2 and v3.0.0 both have it, so a fresh database now gets it too and both upgrade paths end
-- with the same schema. Nothing of ours writes the v2 `scores` table (it is only the source of the
-- background copy to ClickHouse), so the key constrains no live path. It is added NOT VALID and then
-- validated: a database whose old rows name configs that no longer exist (possible only where the
-- key was dropped by hand) keeps the key unvalidated instead of failing the start-up.
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_constraint
        WHERE conname = 'scores_config_id_fkey' AND conrelid = '"scores"'::regclass
    ) THEN
        ALTER TABLE "scores" ADD CONSTRAINT "scores_config_id_fkey" FOREIGN KEY ("config_id")
            REFERENCES "score_configs"("id") ON DELETE SET NULL ON UPDATE CASCADE NOT VALID;
        BEGIN
            ALTER TABLE "scores" VALIDATE CONSTRAINT "scores_config_id_fkey";
        EXCEPTION WHEN foreign_key_violation THEN
            RAISE NOTICE 'scores_config_id_fkey left NOT VALID: scores name missing score configs';
        END;
    END IF;
END
$$;
