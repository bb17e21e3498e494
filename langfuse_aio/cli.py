"""`langfuse-aio`: run the server (--mode all|web|worker) and admin commands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Coroutine, Sequence
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
    else:
        from langfuse_aio.runtime.server import run

        _run(run(settings, mode))


if __name__ == "__main__":
    main()
