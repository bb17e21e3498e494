-- Pricing tiers as current Langfuse keeps them (its Prisma migration that adds `pricing_tiers`):
-- a model has one default tier (is_default, priority 0, no conditions) and optional conditional tiers
-- whose `conditions` (JSONB, Langfuse's shape) pick them; each `prices` row belongs to one tier.
--
-- Differences from Langfuse's migration, to keep our rule of never rewriting existing rows:
-- - `prices.pricing_tier_id` stays nullable and existing rows are not backfilled. A NULL tier means
--   "the model's flat prices" (rows written by Langfuse v2/v3.0 or by older tools); readers treat
--   them as the default tier when the model has no default tier row. Every row we write names a tier.
-- - The one thing replaced: the unique index on (model_id, usage_type) becomes one on
--   (model_id, usage_type, pricing_tier_id), exactly as Langfuse does, because a conditional tier
--   prices the same usage types as the default one. No row changes.
-- On a database that current Langfuse already migrated, every statement is a no-op.

CREATE TABLE IF NOT EXISTS "pricing_tiers" (
    "id" TEXT NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "model_id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "is_default" BOOLEAN NOT NULL DEFAULT false,
    "priority" INTEGER NOT NULL,
    "conditions" JSONB NOT NULL,

    CONSTRAINT "pricing_tiers_pkey" PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX IF NOT EXISTS "pricing_tiers_model_id_priority_key" ON "pricing_tiers"("model_id", "priority");
CREATE UNIQUE INDEX IF NOT EXISTS "pricing_tiers_model_id_name_key" ON "pricing_tiers"("model_id", "name");

DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_constraint
        WHERE conname = 'pricing_tiers_model_id_fkey' AND conrelid = '"pricing_tiers"'::regclass
    ) THEN
        ALTER TABLE "pricing_tiers" ADD CONSTRAINT "pricing_tiers_model_id_fkey" FOREIGN KEY ("model_id")
            REFERENCES "models"("id") ON DELETE CASCADE ON UPDATE CASCADE;
    END IF;
END
$$;

ALTER TABLE "prices" ADD COLUMN IF NOT EXISTS "pricing_tier_id" TEXT;

DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_constraint
        WHERE conname = 'prices_pricing_tier_id_fkey' AND conrelid = '"prices"'::regclass
    ) THEN
        ALTER TABLE "prices" ADD CONSTRAINT "prices_pricing_tier_id_fkey" FOREIGN KEY ("pricing_tier_id")
            REFERENCES "pricing_tiers"("id") ON DELETE CASCADE ON UPDATE CASCADE;
    END IF;
END
$$;

CREATE UNIQUE INDEX IF NOT EXISTS "prices_model_id_usage_type_pricing_tier_id_key"
    ON "prices"("model_id", "usage_type", "pricing_tier_id");
DROP INDEX IF EXISTS "prices_model_id_usage_type_key";
