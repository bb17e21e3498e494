"""Nothing acknowledged is lost while ClickHouse is down: the worker retries until it is back."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_process import auth
from tests.support.external import chdb_http, free_port
from tests.support.server import Server, kill_leftovers

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

INIT = {
    "LANGFUSE_INIT_ORG_ID": "org", "LANGFUSE_INIT_PROJECT_ID": "outage",
    "LANGFUSE_INIT_PROJECT_PUBLIC_KEY": "pk-lf-outage", "LANGFUSE_INIT_PROJECT_SECRET_KEY": "sk-lf-outage",
}
HEADERS = auth("pk-lf-outage", "sk-lf-outage")


def trace_batch(trace_id: str) -> dict[str, object]:
    return {"batch": [{"id": uuid.uuid4().hex, "type": "trace-create", "timestamp": "2026-11-28T12:00:00Z",
                       "body": {"id": trace_id, "name": "during-outage"}}]}


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "data"
    yield path
    kill_leftovers(path)


async def test_events_acked_while_clickhouse_is_down_arrive_after_it_returns(data_dir: Path) -> None:
    ch_port = free_port()
    with chdb_http(data_dir.parent, ch_port) as ch_url:
        server = Server(data_dir, free_port(), {**INIT, "CLICKHOUSE_URL": ch_url})
        try:
            server.wait_healthy()
        except BaseException:
            server.stop()
            raise
    # ClickHouse is gone now. The web half still acknowledges: events are durable in the blob store.
    acked = []
    async with httpx.AsyncClient(base_url=server.url, headers=HEADERS, timeout=10) as client:
        for _ in range(20):
            trace_id = uuid.uuid4().hex
            response = await client.post("/api/public/ingestion", json=trace_batch(trace_id))
            assert response.status_code == 207 and response.json()["errors"] == []
            acked.append(trace_id)
        health = await client.get("/api/public/health")
        assert health.status_code == 503 and "clickhouse" in " ".join(health.json()["failing"])
        await asyncio.sleep(3)  # the worker fails and backs off meanwhile

        with chdb_http(data_dir.parent, ch_port):  # the same ClickHouse comes back on the same address
            missing = list(acked)
            for _ in range(120):
                found = await asyncio.gather(*(client.get(f"/api/public/traces/{t}") for t in missing))
                missing = [t for t, r in zip(missing, found, strict=True) if r.status_code != 200]
                if not missing:
                    break
                await asyncio.sleep(0.5)
            code, _, _ = server.stop()
    assert missing == [], f"{len(missing)} of {len(acked)} acknowledged traces never arrived"
    assert code == 0
