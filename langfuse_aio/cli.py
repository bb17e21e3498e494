"""`langfuse-aio`: run the server (--mode all|web|worker) and admin commands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

from langfuse_aio import __version__
from langfuse_aio.logging import configure_logging
from langfuse_aio.settings import Mode, Settings, SettingsError, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="langfuse-aio",
        description="The Langfuse v3 server in one process. Configure it with Langfuse's environment "
        "variables; with none set it runs on embedded stores under LANGFUSE_AIO_DATA_DIR.",
    )
    parser.add_argument("--version", action="version", version=f"langfuse-aio {__version__}")
    parser.add_argument("--mode", choices=[m.value for m in Mode], default=Mode.ALL.value,
                        help="all: web and worker in one process (default); web: HTTP only; worker: jobs only")
    parser.add_argument("--host", help="listen address (default: $HOSTNAME or 0.0.0.0)")
    parser.add_argument("--port", type=int, help="listen port (default: $PORT or 3000)")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="run the server (the default command)")
    sub.add_parser("migrate", help="apply the Postgres and ClickHouse schema migrations, then exit")
    keys = sub.add_parser("create-api-key", help="create an API key for a project and print it")
    keys.add_argument("project_id")
    models = sub.add_parser("models", help="manage the Langfuse-managed model and price table")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    refresh = models_sub.add_parser(
        "refresh", help="upsert managed models from a file: our table, or Langfuse's default-model-prices.json")
    refresh.add_argument("--file", required=True, type=Path, help="the JSON file to read")
    refresh.add_argument("--force", action="store_true",
                         help="also replace definitions stored with a later updatedAt than the file's")
    projects = sub.add_parser("projects", help="manage projects")
    projects_sub = projects.add_subparsers(dest="projects_command", required=True)
    delete = projects_sub.add_parser(
        "delete", help="revoke a project's API keys now and queue the removal of its data (see README)")
    delete.add_argument("project_id")
    migrations = sub.add_parser(
        "migrations", help="background data migrations (the upgrade from Langfuse v2, see README)")
    migrations_sub = migrations.add_subparsers(dest="migrations_command", required=True)
    migrations_sub.add_parser(
        "status", help="show each background migration and job (read-index backfill): status, progress, rate, ETA")
    retry = migrations_sub.add_parser(
        "retry", help="re-arm a background migration (clears its state); a running worker picks it up")
    retry.add_argument("name", help="the migration's name, as `migrations status` shows it")
    return parser


def _run(coro: Coroutine[Any, Any, None]) -> None:
    import uvloop

    uvloop.run(coro)


async def _migrate(settings: Settings) -> None:
    from langfuse_aio.runtime.resources import open_resources

    async with open_resources(settings):
        pass


async def _create_key(settings: Settings, project_id: str) -> None:
    from langfuse_aio.runtime.resources import open_resources
    from langfuse_aio.services.provisioning import create_api_key

    async with open_resources(settings) as res, res.pg.connection() as conn:
        cur = await conn.execute("SELECT 1 FROM projects WHERE id = %s AND deleted_at IS NULL", (project_id,))
        if await cur.fetchone() is None:
            raise SystemExit(f"no project with id {project_id!r}")
        key = await create_api_key(conn, project_id, salt=res.salt, note="created by langfuse-aio create-api-key")
    print(f"LANGFUSE_PUBLIC_KEY={key.public_key}\nLANGFUSE_SECRET_KEY={key.secret_key}")


async def _refresh_models(settings: Settings, path: Path, force: bool) -> None:
    from langfuse_aio.domain.model_table import ModelTableError
    from langfuse_aio.runtime.resources import open_resources
    from langfuse_aio.services.model_defaults import read_table_file, refresh_models

    try:
        document = read_table_file(path)
    except (OSError, ValueError) as exc:
        raise SystemExit(f"cannot read {path}: {exc}") from None
    async with open_resources(settings) as res:
        try:
            result = await refresh_models(res.pg, document, force=force)
        except ModelTableError as exc:
            raise SystemExit(f"{path}: {exc}") from None
    print(f"models refreshed from {path}: {result.written} written, "
          f"{result.unchanged} unchanged (or newer in the database)")


async def _delete_project(settings: Settings, project_id: str) -> None:
    from langfuse_aio.jobs import definitions
    from langfuse_aio.runtime.resources import open_resources
    from langfuse_aio.services.project_deletion import ProjectNotFoundError, revoke_project

    async with open_resources(settings) as res:
        try:
            revoked = await revoke_project(res.pg, res.redis, project_id, auth=res.auth)
        except ProjectNotFoundError as exc:
            raise SystemExit(str(exc)) from None
        await res.redis.enqueue_job(definitions.DELETE_PROJECT, project_id, _queue_name=definitions.QUEUE_NAME)
    print(f"project {project_id} deleted: {revoked.keys_deleted} API keys revoked; its ClickHouse rows are "
          "removed by a background job" + ("" if settings.delete_blobs_on_project_delete
                                           else " (blob-store files are kept, see the README)"))


async def _migrations_status(settings: Settings) -> None:
    import psycopg

    from langfuse_aio.migrations.background.admin import OWN_TABLE, list_migrations
    from langfuse_aio.migrations.background.status import render
    from langfuse_aio.runtime.resources import open_postgres

    async with open_postgres(settings) as pg:
        try:
            rows, now = await list_migrations(pg)
            own, _ = await list_migrations(pg, OWN_TABLE)
        except psycopg.errors.UndefinedTable:
            raise SystemExit("no background_migrations table yet: run `langfuse-aio migrate` first") from None
    print(render(rows, now))
    print()
    print(render(own, now, title="langfuse-aio background jobs"))
    if not settings.enable_background_migrations:
        print("\nLANGFUSE_ENABLE_BACKGROUND_MIGRATIONS=false here: workers with this setting run none of them")


async def _migrations_retry(settings: Settings, name: str) -> None:
    import psycopg

    from langfuse_aio.migrations.background.admin import UnknownMigrationError, retry_migration
    from langfuse_aio.runtime.resources import open_postgres

    async with open_postgres(settings) as pg:
        try:
            before = await retry_migration(pg, name)
        except UnknownMigrationError as exc:
            print(f"langfuse-aio: {exc}", file=sys.stderr)
            raise SystemExit(1) from None
        except psycopg.errors.UndefinedTable:
            raise SystemExit("no background_migrations table yet: run `langfuse-aio migrate` first") from None
    was = "failed" if before.failed_at else "finished" if before.finished_at else "not finished"
    reason = f": {before.failed_reason}" if before.failed_reason else ""
    print(f"background migration {name} re-armed (it was {was}{reason}); its state was cleared.")
    if settings.enable_background_migrations:
        print("A running worker picks it up at its next check, within a minute; no restart is needed.")
    else:
        print("LANGFUSE_ENABLE_BACKGROUND_MIGRATIONS=false here: it runs once a worker has it enabled.")


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    mode = Mode(args.mode)
    command = args.command or "serve"
    try:
        settings = load_settings(mode=mode if command == "serve" else Mode.ALL, host=args.host, port=args.port)
    except SettingsError as exc:
        print(f"langfuse-aio: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    configure_logging(settings.log_level, settings.log_format)
    if command == "migrate":
        _run(_migrate(settings))
    elif command == "create-api-key":
        _run(_create_key(settings, args.project_id))
    elif command == "projects":
        _run(_delete_project(settings, args.project_id))
    elif command == "migrations" and args.migrations_command == "status":
        _run(_migrations_status(settings))
    elif command == "migrations":
        _run(_migrations_retry(settings, args.name))
    elif command == "models":
        _run(_refresh_models(settings, args.file, args.force))
    else:
        from langfuse_aio.runtime.server import run

        _run(run(settings, mode))


if __name__ == "__main__":
    main()
