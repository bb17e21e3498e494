-- organizations, projects, api_keys as in Langfuse v3.0.0 (v2.95 plus projects.deleted_at).
--
-- Additive only: CREATE TABLE IF NOT EXISTS for a new database; ADD COLUMN IF NOT EXISTS for every
-- column that can be added to a table holding rows (nullable or with a default), so an older v2
-- table gains what it lacks; indexes and foreign keys by Langfuse's names, created only when no
-- object of that name exists. Like Prisma, UNIQUE is a unique index named *_key, not a constraint.
-- Ids have no database default: Langfuse generates them client-side.

-- organizations ---------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS "organizations" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "cloud_config" JSONB,

    CONSTRAINT "organizations_pkey" PRIMARY KEY ("id")
);

ALTER TABLE "organizations"
    ADD COLUMN IF NOT EXISTS "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    ADD COLUMN IF NOT EXISTS "updated_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    ADD COLUMN IF NOT EXISTS "cloud_config" JSONB;

-- projects --------------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS "projects" (
    "id" TEXT NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "name" TEXT NOT NULL,
    "updated_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "org_id" TEXT NOT NULL,
    "deleted_at" TIMESTAMP(3),

    CONSTRAINT "projects_pkey" PRIMARY KEY ("id")
);

ALTER TABLE "projects"
    ADD COLUMN IF NOT EXISTS "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    ADD COLUMN IF NOT EXISTS "updated_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    -- v3.0.0: 20241124115100_add_projects_deleted_at
    ADD COLUMN IF NOT EXISTS "deleted_at" TIMESTAMP(3);

CREATE INDEX IF NOT EXISTS "projects_org_id_idx" ON "projects"("org_id");

DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_constraint
        WHERE conname = 'projects_org_id_fkey' AND conrelid = '"projects"'::regclass
    ) THEN
        ALTER TABLE "projects" ADD CONSTRAINT "projects_org_id_fkey" FOREIGN KEY ("org_id")
            REFERENCES "organizations"("id") ON DELETE CASCADE ON UPDATE CASCADE;
    END IF;
END
$$;

-- api_keys --------------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS "api_keys" (
    "id" TEXT NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "note" TEXT,
    "public_key" TEXT NOT NULL,
    "hashed_secret_key" TEXT NOT NULL,
    "display_secret_key" TEXT NOT NULL,
    "last_used_at" TIMESTAMP(3),
    "expires_at" TIMESTAMP(3),
    "project_id" TEXT NOT NULL,
    "fast_hashed_secret_key" TEXT,

    CONSTRAINT "api_keys_pkey" PRIMARY KEY ("id")
);

ALTER TABLE "api_keys"
    ADD COLUMN IF NOT EXISTS "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    ADD COLUMN IF NOT EXISTS "note" TEXT,
    ADD COLUMN IF NOT EXISTS "last_used_at" TIMESTAMP(3),
    ADD COLUMN IF NOT EXISTS "expires_at" TIMESTAMP(3),
    ADD COLUMN IF NOT EXISTS "fast_hashed_secret_key" TEXT;

CREATE UNIQUE INDEX IF NOT EXISTS "api_keys_id_key" ON "api_keys"("id");
CREATE UNIQUE INDEX IF NOT EXISTS "api_keys_public_key_key" ON "api_keys"("public_key");
CREATE UNIQUE INDEX IF NOT EXISTS "api_keys_hashed_secret_key_key" ON "api_keys"("hashed_secret_key");
CREATE UNIQUE INDEX IF NOT EXISTS "api_keys_fast_hashed_secret_key_key" ON "api_keys"("fast_hashed_secret_key");
CREATE INDEX IF NOT EXISTS "api_keys_project_id_idx" ON "api_keys"("project_id");
CREATE INDEX IF NOT EXISTS "api_keys_public_key_idx" ON "api_keys"("public_key");
CREATE INDEX IF NOT EXISTS "api_keys_hashed_secret_key_idx" ON "api_keys"("hashed_secret_key");
CREATE INDEX IF NOT EXISTS "api_keys_fast_hashed_secret_key_idx" ON "api_keys"("fast_hashed_secret_key");

DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_constraint
        WHERE conname = 'api_keys_project_id_fkey' AND conrelid = '"api_keys"'::regclass
    ) THEN
        ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_project_id_fkey" FOREIGN KEY ("project_id")
            REFERENCES "projects"("id") ON DELETE CASCADE ON UPDATE CASCADE;
    END IF;
END
$$;
