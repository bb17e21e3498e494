"""A pool child does not outlive a server that was killed without closing its pools."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.integration

PARENT = """
import asyncio, os, sys, time
from pathlib import Path
from langfuse_aio.runtime.child_pool import ChildPool
from langfuse_aio.storage.blob.localfs import LocalBlobStore

async def main() -> None:
    writer = ChildPool("blob-writer", processes=1)
    store = LocalBlobStore(Path(sys.argv[1]), writer=writer)
    await store.put_many([("p/trace/t/e.json", b"1")], durable=False)
    print(*[p.pid for p in writer._executor._processes.values()], flush=True)
    time.sleep(60)  # killed here, pool never closed

asyncio.run(main())
"""


def test_file_writer_child_exits_when_the_server_is_sigkilled(tmp_path: Path) -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(tmp_path / "blobs")], stdout=subprocess.PIPE,
                              text=True, cwd=Path(__file__).resolve().parents[2])
    try:
        assert parent.stdout is not None
        children = [int(pid) for pid in parent.stdout.readline().split()]
        assert children and all(psutil.pid_exists(pid) for pid in children)
        assert (tmp_path / "blobs/p/trace/t/e.json").read_bytes() == b"1"
    finally:
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
    deadline = time.monotonic() + 10
    alive = children
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [pid for pid in alive if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]
    assert alive == []
