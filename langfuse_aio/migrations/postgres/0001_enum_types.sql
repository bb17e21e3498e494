-- Postgres enum types used by Langfuse's v2 tables, with Langfuse's quoted CamelCase names and the
-- value order of a Langfuse v2.92-v3.0.0 database.
--
-- Every migration in this folder must work on an empty database and on an existing Langfuse v2.9x
-- database: it only adds what is missing and never drops, rewrites or alters what is there. A type
-- that already exists is left exactly as it is (no ALTER TYPE, no ADD VALUE).

DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE t.typname = 'ObservationType' AND n.nspname = current_schema()
    ) THEN
        CREATE TYPE "ObservationType" AS ENUM ('SPAN', 'EVENT', 'GENERATION');
    END IF;

    IF NOT EXISTS (
        SELECT 1 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE t.typname = 'ObservationLevel' AND n.nspname = current_schema()
    ) THEN
        CREATE TYPE "ObservationLevel" AS ENUM ('DEBUG', 'DEFAULT', 'WARNING', 'ERROR');
    END IF;

    IF NOT EXISTS (
        SELECT 1 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE t.typname = 'ScoreSource' AND n.nspname = current_schema()
    ) THEN
        CREATE TYPE "ScoreSource" AS ENUM ('ANNOTATION', 'API', 'EVAL');
    END IF;

    IF NOT EXISTS (
        SELECT 1 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE t.typname = 'ScoreDataType' AND n.nspname = current_schema()
    ) THEN
        CREATE TYPE "ScoreDataType" AS ENUM ('CATEGORICAL', 'NUMERIC', 'BOOLEAN');
    END IF;
END
$$;
