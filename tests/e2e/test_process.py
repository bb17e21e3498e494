"""The real `langfuse-aio` process on embedded stores: start, serve, stop cleanly, restart."""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support.external import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

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
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if str(data_dir) in cmdline:
            found.append(f"{proc.info['pid']}: {cmdline}")
    return found


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "data"
    yield path
    for line in processes_using(path):  # never leak a child into the rest of the run
        psutil.Process(int(line.split(":")[0])).kill()


def auth(pk: str, sk: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{pk}:{sk}".encode()).decode()}


def test_first_start_prints_a_key_that_works_and_restart_keeps_it(data_dir: Path) -> None:
    server = Server(data_dir, free_port())
    server.wait_healthy()
    running = processes_using(data_dir)
    assert any("postgres" in p for p in running) and any("valkey" in p for p in running), running
    code, seconds, out = server.stop()
    assert code == 0, server.log.read_text()[-4000:]
    assert seconds < 10
    assert processes_using(data_dir) == [], "a child process outlived the server"
    pk = re.search(r"LANGFUSE_PUBLIC_KEY=(\S+)", out)
    sk = re.search(r"LANGFUSE_SECRET_KEY=(\S+)", out)
    assert pk and sk, out

    again = Server(data_dir, free_port())
    again.wait_healthy()
    response = httpx.get(again.url + "/api/public/projects", headers=auth(pk.group(1), sk.group(1)))
    assert response.status_code == 200, response.text
    assert response.json()["data"][0]["name"] == "Default Project"
    code, seconds, out = again.stop(signal.SIGINT)
    assert code == 0 and seconds < 10
    assert "LANGFUSE_SECRET_KEY" not in out, "the default key is printed once only"
    assert processes_using(data_dir) == []


def test_headless_init_key_answers_projects(data_dir: Path) -> None:
    init = {
        "LANGFUSE_INIT_ORG_ID": "my-org", "LANGFUSE_INIT_ORG_NAME": "My Org",
        "LANGFUSE_INIT_PROJECT_ID": "my-project", "LANGFUSE_INIT_PROJECT_NAME": "My Project",
        "LANGFUSE_INIT_PROJECT_PUBLIC_KEY": "pk-lf-init", "LANGFUSE_INIT_PROJECT_SECRET_KEY": "sk-lf-init",
    }
    for _ in range(2):  # idempotent across restarts
        server = Server(data_dir, free_port(), init)
        server.wait_healthy()
        response = httpx.get(server.url + "/api/public/projects", headers=auth("pk-lf-init", "sk-lf-init"))
        assert response.status_code == 200, response.text
        assert response.json() == {"data": [{"id": "my-project", "name": "My Project", "metadata": {},
                                             "organization": {"id": "my-org", "name": "My Org"}}]}
        code, _, out = server.stop()
        assert code == 0
        assert "LANGFUSE_SECRET_KEY" not in out, "no default project when init vars are given"


def test_configuration_errors_are_listed_without_a_traceback(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in STORE_VARS}
    env.update(PORT="x", CLICKHOUSE_URL="nope", LANGFUSE_AIO_DATA_DIR=str(tmp_path))
    result = subprocess.run([sys.executable, "-m", "langfuse_aio.cli", "--mode", "web"], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "PORT" in result.stderr and "CLICKHOUSE_URL" in result.stderr
    assert "Traceback" not in result.stderr
