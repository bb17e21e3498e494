"""The real `langfuse-aio` process on embedded stores: start, serve, stop cleanly, restart."""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.external import free_port
from tests.support.server import ROOT, STORE_VARS, Server, kill_leftovers, processes_using

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "data"
    yield path
    kill_leftovers(path)


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
