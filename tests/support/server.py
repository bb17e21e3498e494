"""The real `langfuse-aio` process, started on embedded stores in a data dir (shared by the e2e tests)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[2]
STORE_VARS = ("DATABASE_URL", "CLICKHOUSE_URL", "REDIS_CONNECTION_STRING", "REDIS_HOST",
              "LANGFUSE_S3_EVENT_UPLOAD_BUCKET", "SALT")


class Server:
    def __init__(self, data_dir: Path, port: int, extra_env: dict[str, str] | None = None) -> None:
        env = {k: v for k, v in os.environ.items() if k not in STORE_VARS and not k.startswith("LANGFUSE_")}
        env.update(LANGFUSE_AIO_DATA_DIR=str(data_dir), PORT=str(port), HOSTNAME="127.0.0.1",
                   LANGFUSE_LOG_FORMAT="json", **(extra_env or {}))
        self.url = f"http://127.0.0.1:{port}"
        self.log = data_dir.parent / f"server-{port}-{time.monotonic_ns()}.log"
        self._log_fh = self.log.open("wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "langfuse_aio.cli"], env=env, cwd=ROOT,
                                     stdout=subprocess.PIPE, stderr=self._log_fh)

    def wait_healthy(self, timeout: float = 90.0) -> float:
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            assert self.proc.poll() is None, f"server exited early:\n{self.log.read_text()[-4000:]}"
            try:
                if httpx.get(self.url + "/api/public/health", timeout=2).status_code == 200:
                    return time.monotonic() - start
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"not healthy in {timeout}s:\n{self.log.read_text()[-4000:]}")

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, float, str]:
        start = time.monotonic()
        self.proc.send_signal(sig)
        out, _ = self.proc.communicate(timeout=30)
        self._log_fh.close()
        return self.proc.returncode, time.monotonic() - start, out.decode()


def processes_using(data_dir: Path) -> list[str]:
    """Processes naming `data_dir` on their command line (embedded daemons) or in their environment
    (the server itself)."""
    found = []
    marker = f"LANGFUSE_AIO_DATA_DIR={data_dir}"
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        try:
            in_env = proc.environ().get("LANGFUSE_AIO_DATA_DIR") == str(data_dir)
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            in_env = False
        if str(data_dir) in cmdline or in_env:
            found.append(f"{proc.info['pid']}: {cmdline or marker}")
    return found


def kill_leftovers(data_dir: Path) -> None:
    """Kill any process still running on `data_dir` (never leak a child into the rest of the run)."""
    for line in processes_using(data_dir):
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(int(line.split(":")[0])).kill()
