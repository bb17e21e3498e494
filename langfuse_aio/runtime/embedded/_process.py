"""Shared helpers of the embedded services: processes and pids (via /proc), running commands
(optionally as a system user), and unix-socket directories short enough for AF_UNIX."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_SUN_PATH_LIMIT = 104  # AF_UNIX path limit, the smaller of Linux (108) and BSD/macOS (104)


class EmbeddedServiceError(RuntimeError):
    """An embedded child service could not be started or stopped."""


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
