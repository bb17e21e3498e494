"""Nothing acknowledged is lost: SIGKILL the server under load, restart it, find every acked event."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_process import auth
from tests.support.external import free_port
from tests.support.server import Server, kill_leftovers, processes_using

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

INIT = {
    "LANGFUSE_INIT_ORG_ID": "org", "LANGFUSE_INIT_PROJECT_ID": "durable",
    "LANGFUSE_INIT_PROJECT_PUBLIC_KEY": "pk-lf-durable", "LANGFUSE_INIT_PROJECT_SECRET_KEY": "sk-lf-durable",
}
HEADERS = auth("pk-lf-durable", "sk-lf-durable")


def batch(trace_id: str) -> dict[str, Any]:
    ts = "2026-11-28T12:00:00.000Z"
    events: list[dict[str, Any]] = [
        {"id": uuid.uuid4().hex, "type": "trace-create", "timestamp": ts,
         "body": {"id": trace_id, "name": "durable", "input": {"q": trace_id}}},
    ]
    for n in range(2):
        events.append({"id": uuid.uuid4().hex, "type": "span-create", "timestamp": ts,
                       "body": {"id": f"{trace_id}-s{n}", "traceId": trace_id, "name": f"span-{n}"}})
    return {"batch": events}


async def load(url: str, acked: list[str], stop: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=url, headers=HEADERS, timeout=10) as client:
        while not stop.is_set():
            trace_id = uuid.uuid4().hex
            try:
                response = await client.post("/api/public/ingestion", json=batch(trace_id))
            except httpx.TransportError:
                return  # the server died under us: this request was never acknowledged
            body = response.json()
            if response.status_code == 207 and len(body["successes"]) == 3:
                acked.append(trace_id)


async def visible(client: httpx.AsyncClient, trace_id: str) -> bool:
    response = await client.get(f"/api/public/traces/{trace_id}")
    return response.status_code == 200 and len(response.json()["observations"]) == 2


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "data"
    yield path
    kill_leftovers(path)


async def test_sigkill_mid_load_loses_no_acknowledged_event(data_dir: Path) -> None:
    server = Server(data_dir, free_port(), INIT)
    server.wait_healthy()
    acked: list[str] = []
    stop = asyncio.Event()
    loaders = [asyncio.create_task(load(server.url, acked, stop)) for _ in range(8)]
    while len(acked) < 150:
        await asyncio.sleep(0.05)
    server.proc.kill()  # SIGKILL: no drain, no flush, embedded daemons orphaned
    await asyncio.to_thread(server.proc.wait)
    await asyncio.to_thread(server.stop)  # reaps and closes its log; the process is already gone
    stop.set()
    await asyncio.gather(*loaders)
    assert len(acked) >= 150

    again = Server(data_dir, free_port(), INIT)
    again.wait_healthy()
    try:
        async with httpx.AsyncClient(base_url=again.url, headers=HEADERS, timeout=10) as client:
            missing = list(acked)
            for _ in range(240):
                results = await asyncio.gather(*(visible(client, t) for t in missing))
                missing = [t for t, ok in zip(missing, results, strict=True) if not ok]
                if not missing:
                    break
                await asyncio.sleep(0.5)
        assert missing == [], f"{len(missing)} of {len(acked)} acknowledged traces never arrived"
    finally:
        code, _, _ = again.stop()
    assert code == 0
    assert processes_using(data_dir) == []
