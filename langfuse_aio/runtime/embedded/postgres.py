"""Embedded Postgres: the server lifecycle (start, adopt an orphan, stop) of a cluster under the
data dir, reachable only through its unix socket. See the package docstring for the details."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import shlex
import signal
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import structlog

from langfuse_aio.runtime.embedded._postgres_setup import (
    _chown_top,
    _ensure_xdg_runtime_dir,
    _initdb_atomically,
    _pg_bin_dir,
    _prepare_root_user,
)
from langfuse_aio.runtime.embedded._process import (
    EmbeddedServiceError,
    _is_zombie,
    _kill,
    _pid_alive,
    _proc_exe,
    _reap,
    _run,
    _socket_dir_for,
    _SystemUser,
    _tail,
    _wait_pid_gone,
    _wait_zombie_reaped,
)

log = structlog.get_logger(__package__)  # "langfuse_aio.runtime.embedded", one logger name for all parts

_PG_PORT = 5432  # only names the socket file: the server listens on no TCP address


@dataclass(frozen=True)
class _PostmasterInfo:
    pid: int
    port: int
    socket_dir: Path | None
    status: str


def _read_postmaster_pid(pgdata: Path) -> _PostmasterInfo | None:
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except (FileNotFoundError, NotADirectoryError):
        return None
    if len(lines) < 8:
        return None  # being written or truncated
    try:
        return _PostmasterInfo(
            pid=int(lines[0]),
            port=int(lines[3]) if lines[3].strip() else _PG_PORT,
            socket_dir=Path(lines[4].strip()) if lines[4].strip() else None,
            status=lines[7].strip(),
        )
    except ValueError:
        return None


def _pg_url(socket_dir: Path, port: int) -> str:
    host = urllib.parse.quote(str(socket_dir), safe="/")
    return f"postgresql://postgres@/postgres?host={host}&port={port}"


def _pg_probe(url: str, timeout: float = 5.0) -> str | None:
    """None if a query answers, else the error text."""
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=max(1, int(timeout)), autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return str(exc).strip() or type(exc).__name__
    return None


def _pg_ctl_stop(
    pgdata: Path, bin_dir: Path, user: _SystemUser | None, pid: int | None, timeout: float
) -> None:
    """Stop the cluster on `pgdata`: fast shutdown, then immediate, then signals to `pid`."""
    result = _run(
        [bin_dir / "pg_ctl", "-D", pgdata, "-m", "fast", "-w", "-t", str(int(timeout)), "stop"],
        user=user, cwd=pgdata if pgdata.is_dir() else None, timeout=timeout + 10,
    )
    if result.returncode != 0 and (pid is None or _pid_alive(pid)):
        log.warning("embedded_postgres_fast_stop_failed", pgdata=str(pgdata), stderr=result.stderr.strip())
        if pgdata.is_dir():
            _run([bin_dir / "pg_ctl", "-D", pgdata, "-m", "immediate", "-w", "-t", "30", "stop"],
                 user=user, cwd=pgdata, timeout=40)
        if pid is not None and _pid_alive(pid):
            _kill(pid, signal.SIGQUIT)  # immediate shutdown, as pg_ctl -m immediate
            if not _wait_pid_gone(pid, 10):
                _kill(pid, signal.SIGKILL)
    if pid is not None and not _wait_pid_gone(pid, 10):
        raise EmbeddedServiceError(f"postgres (pid {pid}) on {pgdata} did not stop")


class EmbeddedPostgres:
    """A Postgres cluster in `<data_dir>/postgres`, reachable only through its unix socket.

    Use `EmbeddedPostgres.start(data_dir / "postgres")` (blocking) or
    `await start_embedded_postgres(data_dir / "postgres")`.
    `url` is a libpq/psycopg URL: `postgresql://postgres@/postgres?host=<socket dir>&port=5432`.
    """

    def __init__(
        self,
        *,
        pgdata: Path,
        bin_dir: Path,
        user: _SystemUser | None,
        pid: int,
        url: str,
        reused: bool,
    ) -> None:
        self.pgdata = pgdata
        self.pid = pid
        self.url = url
        self.reused = reused
        self._bin_dir = bin_dir
        self._user = user
        self._owner_pid = os.getpid()
        self._lock = threading.Lock()
        self._stopped = False
        atexit.register(self._stop_at_exit)

    def __repr__(self) -> str:
        return f"EmbeddedPostgres(pgdata={str(self.pgdata)!r}, pid={self.pid}, stopped={self._stopped})"

    @property
    def stopped(self) -> bool:
        return self._stopped

    @classmethod
    def start(cls, directory: Path, *, timeout: float = 60.0) -> EmbeddedPostgres:
        """Start (or adopt a healthy orphan of) the cluster whose PGDATA is `directory`
        (`<data_dir>/postgres`), running initdb first if it is new; blocking."""
        started = time.monotonic()
        pgdata = Path(directory).resolve()
        data_dir = pgdata.parent
        data_dir.mkdir(parents=True, exist_ok=True)
        _ensure_xdg_runtime_dir(data_dir)
        bin_dir = _pg_bin_dir()
        pgdata.mkdir(mode=0o700, exist_ok=True)
        user = _prepare_root_user(pgdata, bin_dir)

        if not (pgdata / "PG_VERSION").exists():
            _initdb_atomically(pgdata, bin_dir, user)
        _chown_top(pgdata, user)

        reused = cls._adopt_running(pgdata, bin_dir, user, timeout)
        if reused is None:
            cls._start_postmaster(pgdata, bin_dir, user, timeout)
        info = _read_postmaster_pid(pgdata)
        if info is None or info.socket_dir is None:
            raise EmbeddedServiceError(f"postgres on {pgdata} started but postmaster.pid is unreadable")
        url = _pg_url(info.socket_dir, info.port)
        error = _pg_probe(url)
        if error is not None:
            raise EmbeddedServiceError(f"postgres on {pgdata} does not answer on {url}: {error}")
        server = cls(pgdata=pgdata, bin_dir=bin_dir, user=user, pid=info.pid, url=url, reused=reused is not None)
        log.info(
            "embedded_postgres_started", pgdata=str(pgdata), pid=info.pid, reused=server.reused,
            run_as=user.name if user else None, seconds=round(time.monotonic() - started, 3),
        )
        return server

    @staticmethod
    def _adopt_running(pgdata: Path, bin_dir: Path, user: _SystemUser | None, timeout: float) -> int | None:
        """The pid of a healthy postmaster already running on `pgdata` (an orphan of an earlier
        process of ours), or None after stopping an unhealthy one."""
        info = _read_postmaster_pid(pgdata)
        if info is None:
            return None
        if not _pid_alive(info.pid):
            _reap(info.pid)
            if _is_zombie(info.pid) and not _wait_zombie_reaped(info.pid, 3.0):
                # A killed postmaster that our init has not reaped yet: Postgres's own check
                # (kill(pid, 0)) would take it for a live server and refuse to start. It is dead;
                # its lock file is stale. (Leftover backends still attached to the shared memory
                # are caught by Postgres's shared-memory check.)
                log.warning("embedded_postgres_stale_lock_removed", pgdata=str(pgdata), zombie_pid=info.pid)
                (pgdata / "postmaster.pid").unlink(missing_ok=True)
            return None  # not running; any other stale postmaster.pid is handled by postgres itself
        exe = _proc_exe(info.pid)
        ours = (bin_dir / "postgres").resolve()
        problem: str | None
        if exe is not None and exe.name.removesuffix(" (deleted)") != "postgres":
            # postmaster.pid names a pid recycled for another program (typically after a reboot):
            # the file is stale, but Postgres would refuse to start while that pid lives.
            log.warning("embedded_postgres_stale_lock_removed", pgdata=str(pgdata), recycled_pid=info.pid,
                        exe=str(exe))
            (pgdata / "postmaster.pid").unlink(missing_ok=True)
            return None
        if exe is not None and exe != ours:
            if str(exe) == f"{ours} (deleted)":
                problem = "runs a postgres binary since replaced (package upgrade)"
            else:
                raise EmbeddedServiceError(
                    f"a postgres we did not start ({exe}, pid {info.pid}) runs on {pgdata}; stop it first"
                )
        elif info.status != "ready" or info.socket_dir is None:
            problem = f"postmaster status {info.status!r}"
        else:
            problem = _pg_probe(_pg_url(info.socket_dir, info.port))
        if problem is None:
            log.info("embedded_postgres_orphan_adopted", pgdata=str(pgdata), pid=info.pid)
            return info.pid
        log.warning("embedded_postgres_orphan_unhealthy", pgdata=str(pgdata), pid=info.pid, problem=problem)
        _pg_ctl_stop(pgdata, bin_dir, user, info.pid, timeout)
        return None

    @staticmethod
    def _start_postmaster(pgdata: Path, bin_dir: Path, user: _SystemUser | None, timeout: float) -> None:
        socket_dir = _socket_dir_for("pg", pgdata, f".s.PGSQL.{_PG_PORT}", user)
        options = f"-h '' -k {shlex.quote(str(socket_dir))} -p {_PG_PORT}"
        logfile = pgdata / "postgres.log"
        result = _run(
            [bin_dir / "pg_ctl", "-D", pgdata, "-l", logfile, "-o", options, "-w", "-t", str(int(timeout)), "start"],
            user=user, cwd=pgdata, timeout=timeout + 10,
        )
        if result.returncode != 0:
            raise EmbeddedServiceError(
                f"pg_ctl start failed for {pgdata} (exit {result.returncode}): {result.stderr.strip()}\n"
                f"--- {logfile} (tail) ---\n{_tail(logfile)}"
            )

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the cluster (fast shutdown: sessions are cut, a checkpoint is written). Idempotent."""
        with self._lock:
            if self._stopped:
                return
            started = time.monotonic()
            info = _read_postmaster_pid(self.pgdata)
            if not _pid_alive(self.pid) or (info is not None and info.pid != self.pid):
                # Our postmaster is gone (it crashed or was killed), and the data dir may by now
                # belong to a newer server: pg_ctl stop would stop that one. Nothing to do.
                _reap(self.pid)
                log.warning("embedded_postgres_already_exited", pgdata=str(self.pgdata), pid=self.pid)
            else:
                _pg_ctl_stop(self.pgdata, self._bin_dir, self._user, self.pid, timeout)
            self._stopped = True
            with contextlib.suppress(Exception):
                atexit.unregister(self._stop_at_exit)
            log.info("embedded_postgres_stopped", pgdata=str(self.pgdata), pid=self.pid,
                     seconds=round(time.monotonic() - started, 3))

    async def astop(self, timeout: float = 60.0) -> None:  # noqa: ASYNC109
        await asyncio.to_thread(self.stop, timeout)

    def pids(self) -> list[int]:
        """The postmaster's pid (empty once stopped)."""
        return [] if self._stopped else [self.pid]

    def _stop_at_exit(self) -> None:
        if os.getpid() == self._owner_pid:
            self.stop()


async def start_embedded_postgres(directory: Path, *, timeout: float = 60.0) -> EmbeddedPostgres:  # noqa: ASYNC109
    """`EmbeddedPostgres.start(directory)` in a worker thread (initdb and pg_ctl block)."""
    return await asyncio.to_thread(EmbeddedPostgres.start, directory, timeout=timeout)
