"""Cold start and idle memory of `langfuse-aio --mode all` on embedded stores.

Prints: seconds from spawn to a healthy /api/public/health on an empty data dir (first start, with
initdb and schema migrations) and on a restart of the same dir; and after an idle settle period the
resident memory of the server and every child process (RSS summed, and USS/PSS where readable).

    .venv/bin/python scripts/bench/startup.py [--idle-seconds 20]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(data_dir: Path) -> tuple[subprocess.Popen[bytes], str, float]:
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "CLICKHOUSE_URL", "REDIS_CONNECTION_STRING", "REDIS_HOST",
                        "LANGFUSE_S3_EVENT_UPLOAD_BUCKET")}
    env.update(LANGFUSE_AIO_DATA_DIR=str(data_dir), PORT=str(port), HOSTNAME="127.0.0.1")
    url = f"http://127.0.0.1:{port}/api/public/health"
    begin = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "langfuse_aio.cli"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        if proc.poll() is not None:
            raise SystemExit("server exited during start")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return proc, url, time.monotonic() - begin
        except httpx.TransportError:
            pass
        time.sleep(0.05)


def memory(proc: subprocess.Popen[bytes], data_dir: Path) -> dict[str, float]:
    """The server, its children, and the daemonized embedded services (found by their data dir) with theirs."""
    roots = [psutil.Process(proc.pid)]
    for p in psutil.process_iter(["cmdline"]):
        if p.pid != proc.pid and str(data_dir) in " ".join(p.info["cmdline"] or []):
            roots.append(p)
    seen: dict[int, psutil.Process] = {}
    for root in roots:
        for p in (root, *root.children(recursive=True)):
            seen[p.pid] = p
    procs = list(seen.values())
    rss = uss = pss = 0
    for p in procs:
        info = p.memory_full_info()
        rss += info.rss
        uss += info.uss
        pss += getattr(info, "pss", 0)
    return {"processes": len(procs), "rss_mb": rss / 2**20, "uss_mb": uss / 2**20, "pss_mb": pss / 2**20}


def stop(proc: subprocess.Popen[bytes]) -> float:
    begin = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)
    return time.monotonic() - begin


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        proc, _, cold = start(data_dir)
        print(f"cold start (empty data dir, initdb + migrations): {cold:.2f} s")
        time.sleep(args.idle_seconds)
        mem = memory(proc, data_dir)
        print(f"idle memory after {args.idle_seconds:.0f} s, {mem['processes']} processes: "
              f"RSS {mem['rss_mb']:.0f} MB, PSS {mem['pss_mb']:.0f} MB, USS {mem['uss_mb']:.0f} MB")
        print(f"stop on SIGTERM: {stop(proc):.2f} s")
        proc, _, warm = start(data_dir)
        print(f"restart on the same data dir: {warm:.2f} s")
        print(f"stop on SIGTERM: {stop(proc):.2f} s")


if __name__ == "__main__":
    main()
