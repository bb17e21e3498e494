-- models and prices as in Langfuse v2.92-v3.0.0. Same additive rules as 0002.
--
-- models.project_id NULL marks a Langfuse-managed global model. The unique index on
-- (project_id, model_name, start_date, unit) does not constrain rows with NULLs (Postgres treats
-- NULLs as distinct), exactly as in Langfuse. prices_model_id_idx is not created: Langfuse dropped
-- it in 20241029130802.

-- models ----------------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS "models" (
    "id" TEXT NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "project_id" TEXT,
    "model_name" TEXT NOT NULL,
    "match_pattern" TEXT NOT NULL,
    "start_date" TIMESTAMP(3),
    "input_price" DECIMAL(65,30),
    "output_price" DECIMAL(65,30),
    "total_price" DECIMAL(65,30),
    "unit" TEXT,
    "tokenizer_config" JSONB,
    "tokenizer_id" TEXT,

    CONSTRAINT "models_pkey" PRIMARY KEY ("id")
);

ALTER TABLE "models"
    ADD COLUMN IF NOT EXISTS "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    ADD COLUMN IF NOT EXISTS "updated_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    ADD COLUMN IF NOT EXISTS "project_id" TEXT,
    ADD COLUMN IF NOT EXISTS "start_date" TIMESTAMP(3),
    ADD COLUMN IF NOT EXISTS "input_price" DECIMAL(65,30),
    ADD COLUMN IF NOT EXISTS "output_price" DECIMAL(65,30),
    ADD COLUMN IF NOT EXISTS "total_price" DECIMAL(65,30),
    ADD COLUMN IF NOT EXISTS "unit" TEXT,
    ADD COLUMN IF NOT EXISTS "tokenizer_config" JSONB,
    ADD COLUMN IF NOT EXISTS "tokenizer_id" TEXT;

CREATE UNIQUE INDEX IF NOT EXISTS "models_project_id_model_name_start_date_unit_key"
    ON "models"("project_id", "model_name", "start_date", "unit");
CREATE INDEX IF NOT EXISTS "models_model_name_idx" ON "models"("model_name");

DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_constraint
        WHERE conname = 'models_project_id_fkey' AND conrelid = '"models"'::regclass
    ) THEN
        ALTER TABLE "models" ADD CONSTRAINT "models_project_id_fkey" FOREIGN KEY ("project_id")
            REFERENCES "projects"("id") ON DELETE CASCADE ON UPDATE CASCADE;
    END IF;
END
$$;

-- prices ----------------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS "prices" (
    "id" TEXT NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "model_id" TEXT NOT NULL,
    "usage_type" TEXT NOT NULL,
    "price" DECIMAL(65,30) NOT NULL,

    CONSTRAINT "prices_pkey" PRIMARY KEY ("id")
);

ALTER TABLE "prices"
    ADD COLUMN IF NOT EXISTS "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    ADD COLUMN IF NOT EXISTS "updated_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP;

CREATE UNIQUE INDEX IF NOT EXISTS "prices_model_id_usage_type_key" ON "prices"("model_id", "usage_type");

DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_constraint
        WHERE conname = 'prices_model_id_fkey' AND conrelid = '"prices"'::regclass
    ) THEN
        ALTER TABLE "prices" ADD CONSTRAINT "prices_model_id_fkey" FOREIGN KEY ("model_id")
            REFERENCES "models"("id") ON DELETE CASCADE ON UPDATE CASCADE;
    END IF;
END
$$;
