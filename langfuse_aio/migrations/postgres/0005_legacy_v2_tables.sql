-- The v2 tables traces, observations, scores, trace_sessions, as Langfuse v3.0.0 keeps them: the
-- source of the background copy to ClickHouse. Same additive rules as 0002.
--
-- Deliberately absent, as in v3.0.0:
--   * traces_session_id_project_id_fkey (traces -> trace_sessions): v3.0.0 drops it
--     (20241206115829). A v2 database keeps its copy; we never drop it.
--   * scores_config_id_fkey (scores -> score_configs): added by 0007 with the score_configs table.
--   * observations.trace_id and scores.trace_id have no foreign key in Langfuse either.

-- trace_sessions --------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS "trace_sessions" (
    "id" TEXT NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "project_id" TEXT NOT NULL,
    "bookmarked" BOOLEAN NOT NULL DEFAULT false,
    "public" BOOLEAN NOT NULL DEFAULT false,

    CONSTRAINT "trace_sessions_pkey" PRIMARY KEY ("id", "project_id")
);

ALTER TABLE "trace_sessions"
    ADD COLUMN IF NOT EXISTS "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    ADD COLUMN IF NOT EXISTS "updated_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    ADD COLUMN IF NOT EXISTS "bookmarked" BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS "public" BOOLEAN NOT NULL DEFAULT false;

CREATE INDEX IF NOT EXISTS "trace_sessions_project_id_idx" ON "trace_sessions"("project_id");
CREATE INDEX IF NOT EXISTS "trace_sessions_created_at_idx" ON "trace_sessions"("created_at");

DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_constraint
        WHERE conname = 'trace_sessions_project_id_fkey' AND conrelid = '"trace_sessions"'::regclass
    ) THEN
        ALTER TABLE "trace_sessions" ADD CONSTRAINT "trace_sessions_project_id_fkey" FOREIGN KEY ("project_id")
            REFERENCES "projects"("id") ON DELETE CASCADE ON UPDATE CASCADE;
    END IF;
END
$$;

-- traces ----------------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS "traces" (
    "id" TEXT NOT NULL,
    "timestamp" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "name" TEXT,
    "project_id" TEXT NOT NULL,
    "metadata" JSONB,
    "external_id" TEXT,
    "user_id" TEXT,
    "release" TEXT,
    "version" TEXT,
    "public" BOOLEAN NOT NULL DEFAULT false,
    "bookmarked" BOOLEAN NOT NULL DEFAULT false,
    "input" JSONB,
    "output" JSONB,
    "session_id" TEXT,
    "tags" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "traces_pkey" PRIMARY KEY ("id")
);

ALTER TABLE "traces"
    ADD COLUMN IF NOT EXISTS "timestamp" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    ADD COLUMN IF NOT EXISTS "name" TEXT,
    ADD COLUMN IF NOT EXISTS "metadata" JSONB,
    ADD COLUMN IF NOT EXISTS "external_id" TEXT,
    ADD COLUMN IF NOT EXISTS "user_id" TEXT,
    ADD COLUMN IF NOT EXISTS "release" TEXT,
    ADD COLUMN IF NOT EXISTS "version" TEXT,
    ADD COLUMN IF NOT EXISTS "public" BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS "bookmarked" BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS "input" JSONB,
    ADD COLUMN IF NOT EXISTS "output" JSONB,
    ADD COLUMN IF NOT EXISTS "session_id" TEXT,
    ADD COLUMN IF NOT EXISTS "tags" TEXT[] DEFAULT ARRAY[]::TEXT[],
    ADD COLUMN IF NOT EXISTS "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    ADD COLUMN IF NOT EXISTS "updated_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP;

CREATE INDEX IF NOT EXISTS "traces_project_id_timestamp_idx" ON "traces"("project_id", "timestamp");
CREATE INDEX IF NOT EXISTS "traces_session_id_idx" ON "traces"("session_id");
CREATE INDEX IF NOT EXISTS "traces_name_idx" ON "traces"("name");
CREATE INDEX IF NOT EXISTS "traces_user_id_idx" ON "traces"("user_id");
CREATE INDEX IF NOT EXISTS "traces_id_user_id_idx" ON "traces"("id", "user_id");
CREATE INDEX IF NOT EXISTS "traces_timestamp_idx" ON "traces"("timestamp");
CREATE INDEX IF NOT EXISTS "traces_created_at_idx" ON "traces"("created_at");
CREATE INDEX IF NOT EXISTS "traces_tags_idx" ON "traces" USING GIN ("tags");

DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_constraint
        WHERE conname = 'traces_project_id_fkey' AND conrelid = '"traces"'::regclass
    ) THEN
        ALTER TABLE "traces" ADD CONSTRAINT "traces_project_id_fkey" FOREIGN KEY ("project_id")
            REFERENCES "projects"("id") ON DELETE CASCADE ON UPDATE CASCADE;
    END IF;
END
$$;

-- observations ----------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS "observations" (
    "id" TEXT NOT NULL,
    "name" TEXT,
    "start_time" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "end_time" TIMESTAMP(3),
    "parent_observation_id" TEXT,
    "type" "ObservationType" NOT NULL,
    "trace_id" TEXT,
    "metadata" JSONB,
    "model" TEXT,
    "modelParameters" JSONB,
    "input" JSONB,
    "output" JSONB,
    "level" "ObservationLevel" NOT NULL DEFAULT 'DEFAULT',
    "status_message" TEXT,
    "completion_start_time" TIMESTAMP(3),
    "completion_tokens" INTEGER NOT NULL DEFAULT 0,
    "prompt_tokens" INTEGER NOT NULL DEFAULT 0,
    "total_tokens" INTEGER NOT NULL DEFAULT 0,
    "version" TEXT,
    "project_id" TEXT NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "unit" TEXT,
    "prompt_id" TEXT,
    "input_cost" DECIMAL(65,30),
    "output_cost" DECIMAL(65,30),
    "total_cost" DECIMAL(65,30),
    "internal_model" TEXT,
    "updated_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "calculated_input_cost" DECIMAL(65,30),
    "calculated_output_cost" DECIMAL(65,30),
    "calculated_total_cost" DECIMAL(65,30),
    "internal_model_id" TEXT,

    CONSTRAINT "observations_pkey" PRIMARY KEY ("id")
);

ALTER TABLE "observations"
    ADD COLUMN IF NOT EXISTS "name" TEXT,
    ADD COLUMN IF NOT EXISTS "start_time" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    ADD COLUMN IF NOT EXISTS "end_time" TIMESTAMP(3),
    ADD COLUMN IF NOT EXISTS "parent_observation_id" TEXT,
    ADD COLUMN IF NOT EXISTS "trace_id" TEXT,
    ADD COLUMN IF NOT EXISTS "metadata" JSONB,
    ADD COLUMN IF NOT EXISTS "model" TEXT,
    ADD COLUMN IF NOT EXISTS "modelParameters" JSONB,
    ADD COLUMN IF NOT EXISTS "input" JSONB,
    ADD COLUMN IF NOT EXISTS "output" JSONB,
    ADD COLUMN IF NOT EXISTS "level" "ObservationLevel" NOT NULL DEFAULT 'DEFAULT',
    ADD COLUMN IF NOT EXISTS "status_message" TEXT,
    ADD COLUMN IF NOT EXISTS "completion_start_time" TIMESTAMP(3),
    ADD COLUMN IF NOT EXISTS "completion_tokens" INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS "prompt_tokens" INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS "total_tokens" INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS "version" TEXT,
    ADD COLUMN IF NOT EXISTS "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    ADD COLUMN IF NOT EXISTS "unit" TEXT,
    ADD COLUMN IF NOT EXISTS "prompt_id" TEXT,
    ADD COLUMN IF NOT EXISTS "input_cost" DECIMAL(65,30),
    ADD COLUMN IF NOT EXISTS "output_cost" DECIMAL(65,30),
    ADD COLUMN IF NOT EXISTS "total_cost" DECIMAL(65,30),
    ADD COLUMN IF NOT EXISTS "internal_model" TEXT,
    ADD COLUMN IF NOT EXISTS "updated_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    ADD COLUMN IF NOT EXISTS "calculated_input_cost" DECIMAL(65,30),
    ADD COLUMN IF NOT EXISTS "calculated_output_cost" DECIMAL(65,30),
    ADD COLUMN IF NOT EXISTS "calculated_total_cost" DECIMAL(65,30),
    ADD COLUMN IF NOT EXISTS "internal_model_id" TEXT;

CREATE UNIQUE INDEX IF NOT EXISTS "observations_id_project_id_key" ON "observations"("id", "project_id");
CREATE INDEX IF NOT EXISTS "observations_project_id_internal_model_start_time_unit_idx"
    ON "observations"("project_id", "internal_model", "start_time", "unit");
CREATE INDEX IF NOT EXISTS "observations_trace_id_project_id_type_start_time_idx"
    ON "observations"("trace_id", "project_id", "type", "start_time");
CREATE INDEX IF NOT EXISTS "observations_trace_id_project_id_start_time_idx"
    ON "observations"("trace_id", "project_id", "start_time");
CREATE INDEX IF NOT EXISTS "observations_project_id_start_time_type_idx"
    ON "observations"("project_id", "start_time", "type");
CREATE INDEX IF NOT EXISTS "observations_project_id_prompt_id_idx" ON "observations"("project_id", "prompt_id");
CREATE INDEX IF NOT EXISTS "observations_type_idx" ON "observations"("type");
CREATE INDEX IF NOT EXISTS "observations_start_time_idx" ON "observations"("start_time");
CREATE INDEX IF NOT EXISTS "observations_created_at_idx" ON "observations"("created_at");
CREATE INDEX IF NOT EXISTS "observations_model_idx" ON "observations"("model");
CREATE INDEX IF NOT EXISTS "observations_internal_model_idx" ON "observations"("internal_model");
CREATE INDEX IF NOT EXISTS "observations_prompt_id_idx" ON "observations"("prompt_id");

DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_constraint
        WHERE conname = 'observations_project_id_fkey' AND conrelid = '"observations"'::regclass
    ) THEN
        ALTER TABLE "observations" ADD CONSTRAINT "observations_project_id_fkey" FOREIGN KEY ("project_id")
            REFERENCES "projects"("id") ON DELETE CASCADE ON UPDATE CASCADE;
    END IF;
END
$$;

-- scores ----------------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS "scores" (
    "id" TEXT NOT NULL,
    "timestamp" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "name" TEXT NOT NULL,
    "value" DOUBLE PRECISION,
    "observation_id" TEXT,
    "trace_id" TEXT NOT NULL,
    "comment" TEXT,
    "source" "ScoreSource" NOT NULL,
    "project_id" TEXT NOT NULL,
    "author_user_id" TEXT,
    "config_id" TEXT,
    "data_type" "ScoreDataType" NOT NULL DEFAULT 'NUMERIC',
    "string_value" TEXT,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "queue_id" TEXT,

    CONSTRAINT "scores_pkey" PRIMARY KEY ("id")
);

ALTER TABLE "scores"
    ADD COLUMN IF NOT EXISTS "timestamp" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    ADD COLUMN IF NOT EXISTS "value" DOUBLE PRECISION,
    ADD COLUMN IF NOT EXISTS "observation_id" TEXT,
    ADD COLUMN IF NOT EXISTS "comment" TEXT,
    ADD COLUMN IF NOT EXISTS "author_user_id" TEXT,
    ADD COLUMN IF NOT EXISTS "config_id" TEXT,
    ADD COLUMN IF NOT EXISTS "data_type" "ScoreDataType" NOT NULL DEFAULT 'NUMERIC',
    ADD COLUMN IF NOT EXISTS "string_value" TEXT,
    ADD COLUMN IF NOT EXISTS "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    ADD COLUMN IF NOT EXISTS "updated_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    ADD COLUMN IF NOT EXISTS "queue_id" TEXT;

CREATE UNIQUE INDEX IF NOT EXISTS "scores_id_project_id_key" ON "scores"("id", "project_id");
CREATE INDEX IF NOT EXISTS "scores_timestamp_idx" ON "scores"("timestamp");
CREATE INDEX IF NOT EXISTS "scores_value_idx" ON "scores"("value");
CREATE INDEX IF NOT EXISTS "scores_project_id_name_idx" ON "scores"("project_id", "name");
CREATE INDEX IF NOT EXISTS "scores_author_user_id_idx" ON "scores"("author_user_id");
CREATE INDEX IF NOT EXISTS "scores_config_id_idx" ON "scores"("config_id");
CREATE INDEX IF NOT EXISTS "scores_source_idx" ON "scores"("source");
CREATE INDEX IF NOT EXISTS "scores_created_at_idx" ON "scores"("created_at");
CREATE INDEX IF NOT EXISTS "scores_trace_id_idx" ON "scores" USING HASH ("trace_id");
CREATE INDEX IF NOT EXISTS "scores_observation_id_idx" ON "scores" USING HASH ("observation_id");

DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_constraint
        WHERE conname = 'scores_project_id_fkey' AND conrelid = '"scores"'::regclass
    ) THEN
        ALTER TABLE "scores" ADD CONSTRAINT "scores_project_id_fkey" FOREIGN KEY ("project_id")
            REFERENCES "projects"("id") ON DELETE CASCADE ON UPDATE CASCADE;
    END IF;
END
$$;
