"""External store set for the integration suite: real servers over the network.

Postgres and Redis come from the machine (or from scripts/test-services.sh), S3 from moto's
server mode, ClickHouse from clickhouse-connect against tests.support.chdb_http (ClickHouse's
HTTP interface served over chDB in a child process)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


@contextlib.contextmanager
def child(args: list[str], url: str, log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log_path.open("wb") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=Path(__file__).parents[2])
        try:
            wait_http(url, proc=proc)
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def moto_s3(tmp: Path) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    moto = Path(sys.executable).parent / "moto_server"
    with child([str(moto), "-H", "127.0.0.1", "-p", str(port)], url, tmp / "moto.log"):
        yield url


def chdb_http_args(path: Path, port: int) -> list[str]:
    return [sys.executable, "-m", "tests.support.chdb_http", "--path", str(path),
            "--host", "127.0.0.1", "--port", str(port)]


@contextlib.contextmanager
def chdb_http(tmp: Path, port: int | None = None) -> Iterator[str]:
    """ClickHouse's HTTP interface over chDB in a child process (data under `tmp/chdb-server`)."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    with child(chdb_http_args(tmp / "chdb-server", port), url + "/ping", tmp / f"chdb_http-{port}.log"):
        yield url


@contextlib.contextmanager
def scratch_database() -> Iterator[str]:
    """A fresh database on the test Postgres server, dropped afterwards."""
    admin = os.environ.get("LANGFUSE_AIO_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"lfaio_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def redis_url() -> str:
    return os.environ.get("LANGFUSE_AIO_TEST_REDIS_URL", "redis://127.0.0.1:6379") + "/5"
