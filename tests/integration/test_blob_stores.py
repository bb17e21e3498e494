"""The BlobStore contract, run against the local-directory store and S3 (moto's server, a child process)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aioboto3
import pytest

from langfuse_aio.runtime.child_pool import ChildPool
from langfuse_aio.storage.blob.base import BlobStore, BlobStoreError
from langfuse_aio.storage.blob.localfs import LocalBlobStore
from langfuse_aio.storage.blob.s3 import S3BlobStore, open_s3

pytestmark = pytest.mark.integration


async def _open_test_s3(
    bucket: str, endpoint: str, *, connect_timeout: float = 10.0, max_attempts: int = 5
) -> S3BlobStore:
    return await open_s3(
        bucket=bucket, endpoint=endpoint, region="us-east-1", access_key_id="test", secret_access_key="test",
        force_path_style=True, connect_timeout=connect_timeout, max_attempts=max_attempts,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto_server in a child process, as a real S3 endpoint over HTTP."""
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log_path = tmp_path_factory.mktemp("moto") / "moto.log"
    moto = Path(sys.executable).parent / "moto_server"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"moto_server exited with {proc.returncode}: {log_path.read_text()}")
                try:
                    with urllib.request.urlopen(endpoint + "/moto-api/", timeout=1):
                        break
                except (urllib.error.URLError, OSError):
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            yield endpoint
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def _create_bucket(endpoint: str, bucket: str) -> None:
    session = aioboto3.Session()
    async with session.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
    ) as client:
        await client.create_bucket(Bucket=bucket)


@pytest.fixture(params=["localfs", "localfs-writer-process", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BlobStore]:
    if request.param.startswith("localfs"):
        writer = ChildPool("blob-writer", processes=1) if request.param == "localfs-writer-process" else None
        local = LocalBlobStore(tmp_path / "blobs", writer=writer)
        await local.ping()
        yield local
        await local.close()
        if writer is not None:
            await writer.close()
        return
    endpoint: str = request.getfixturevalue("moto_endpoint")
    bucket = f"test-{uuid.uuid4().hex[:12]}"
    await _create_bucket(endpoint, bucket)
    s3 = await _open_test_s3(bucket, endpoint)
    yield s3
    await s3.close()


# -- the contract -----------------------------------------------------------------------------


async def test_put_then_get_returns_the_bytes(store: BlobStore) -> None:
    await store.put("p1/trace/t1/e1.json", b'{"a": 1}')
    assert await store.get("p1/trace/t1/e1.json") == b'{"a": 1}'


async def test_put_overwrites(store: BlobStore) -> None:
    await store.put("p1/trace/t1/e1.json", b"first")
    await store.put("p1/trace/t1/e1.json", b"second, longer")
    assert await store.get("p1/trace/t1/e1.json") == b"second, longer"


async def test_binary_and_empty_objects_round_trip(store: BlobStore) -> None:
    blob = bytes(range(256)) * 4
    await store.put("p1/bin", blob)
    await store.put("p1/empty", b"")
    assert await store.get("p1/bin") == blob
    assert await store.get("p1/empty") == b""


async def test_get_missing_raises_key_error(store: BlobStore) -> None:
    with pytest.raises(KeyError):
        await store.get("p1/trace/nope/e.json")
    await store.put("p1/trace/t1/e1.json", b"x")
    with pytest.raises(KeyError):
        await store.get("p1/trace/t1")  # a "directory" is not an object


async def test_list_filters_by_prefix_and_sorts(store: BlobStore) -> None:
    keys = [
        "p1/trace/t2/e1.json",
        "p1/trace/t1/e2.json",
        "p1/trace/t1/e1.json",
        "p1/observation/o1/e1.json",
        "p1/score/s1/e1.json",
        "p2/trace/t1/e1.json",
        "p10/trace/t1/e1.json",
    ]
    await asyncio.gather(*(store.put(k, k.encode()) for k in keys))
    assert await store.list("p1/trace/") == ["p1/trace/t1/e1.json", "p1/trace/t1/e2.json", "p1/trace/t2/e1.json"]
    assert await store.list("p1/trace/t1/") == ["p1/trace/t1/e1.json", "p1/trace/t1/e2.json"]
    # S3 semantics: a prefix is a string prefix, not a path (so "p1" also matches "p10/…")
    assert await store.list("p1/tr") == await store.list("p1/trace/")
    assert await store.list("p1") == sorted(k for k in keys if k.startswith("p1"))
    assert await store.list("") == sorted(keys)
    assert await store.list("p3/") == []
    assert await store.list("p1/trace/t9/") == []


async def test_delete_removes_keys_and_ignores_missing(store: BlobStore) -> None:
    await store.put("p1/trace/t1/e1.json", b"1")
    await store.put("p1/trace/t1/e2.json", b"2")
    await store.put("p1/trace/t2/e1.json", b"3")
    await store.delete(["p1/trace/t1/e1.json", "p1/trace/missing/e.json", "p1/trace/t1/e2.json"])
    assert await store.list("p1/") == ["p1/trace/t2/e1.json"]
    with pytest.raises(KeyError):
        await store.get("p1/trace/t1/e1.json")
    await store.delete([])
    await store.delete(["p1/trace/t1/e1.json"])  # already gone
    # the emptied "directory" can be written again
    await store.put("p1/trace/t1/e3.json", b"4")
    assert await store.get("p1/trace/t1/e3.json") == b"4"


async def test_more_than_1000_keys_list_and_delete(store: BlobStore) -> None:
    """Crosses S3's 1000-key page of ListObjectsV2 and its 1000-key limit of DeleteObjects."""
    keys = [f"p1/observation/o{i // 10:04d}/e{i % 10}.json" for i in range(1050)]
    gate = asyncio.Semaphore(32)

    async def put(key: str) -> None:
        async with gate:
            await store.put(key, b"{}")

    await asyncio.gather(*(put(k) for k in keys), store.put("p1/trace/t1/e1.json", b"{}"))
    listed = await store.list("p1/observation/")
    assert listed == sorted(keys)
    assert len(listed) == 1050
    await store.delete([*listed, "p1/observation/missing.json"])
    assert await store.list("p1/observation/") == []
    assert await store.list("p1/") == ["p1/trace/t1/e1.json"]


async def test_ping_answers(store: BlobStore) -> None:
    await store.ping()


async def test_concurrent_writes_of_one_key_leave_one_whole_object(store: BlobStore) -> None:
    payloads = [bytes([i]) * 10_000 for i in range(20)]
    await asyncio.gather(*(store.put("p1/trace/t1/e1.json", p) for p in payloads))
    assert await store.get("p1/trace/t1/e1.json") in payloads
    assert await store.list("p1/") == ["p1/trace/t1/e1.json"]


async def test_put_racing_a_delete_in_the_same_prefix_is_kept(store: BlobStore) -> None:
    """Deleting the last object of an entity while another event of it arrives (localfs prunes
    emptied directories) must not lose the new event."""
    rounds = 40
    await asyncio.gather(*(store.put(f"p1/trace/t{i}/old.json", b"old") for i in range(rounds)))
    await asyncio.gather(
        *(store.delete([f"p1/trace/t{i}/old.json"]) for i in range(rounds)),
        *(store.put(f"p1/trace/t{i}/new.json", b"new") for i in range(rounds)),
    )
    assert await store.list("p1/") == sorted(f"p1/trace/t{i}/new.json" for i in range(rounds))


# -- backend specifics ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["", "/etc/passwd", "../escape", "p1/../../escape", "p1/./x", "p1//x", "p1/x/", ".", "..", "p1/..", "a\x00b"],
)
async def test_localfs_rejects_keys_that_could_escape_root(tmp_path: Path, key: str) -> None:
    store = LocalBlobStore(tmp_path / "root")
    with pytest.raises(ValueError):
        await store.put(key, b"x")
    with pytest.raises(ValueError):
        await store.get(key)
    with pytest.raises(ValueError):
        await store.delete([key])
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing written, not even the root


@pytest.mark.parametrize("prefix", ["/etc/", "../", "p1/../../", "p1/../x"])
async def test_localfs_rejects_prefixes_that_could_escape_root(tmp_path: Path, prefix: str) -> None:
    with pytest.raises(ValueError):
        await LocalBlobStore(tmp_path / "root").list(prefix)


async def test_localfs_leaves_no_temporary_files_and_prunes_empty_dirs(tmp_path: Path) -> None:
    root = tmp_path / "root"
    store = LocalBlobStore(root)
    await asyncio.gather(*(store.put(f"p1/trace/t{i % 3}/e{i}.json", b"x" * i) for i in range(30)))
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert files == await store.list("")
    assert all(not name.startswith(".") for f in files for name in f.split(os.sep))
    await store.delete(await store.list("p1/trace/t0/"))
    assert not (root / "p1/trace/t0").exists()
    assert (root / "p1/trace/t1").is_dir()
    await store.delete(await store.list(""))
    assert list(root.iterdir()) == []


async def test_localfs_ping_fails_when_root_is_unusable(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(BlobStoreError):
        await LocalBlobStore(tmp_path / "file" / "root").ping()


async def test_localfs_collision_between_object_and_prefix_is_a_store_error(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "root")
    await store.put("p1/a", b"x")
    with pytest.raises(BlobStoreError):
        await store.put("p1/a/b", b"y")


async def test_localfs_writer_process_replaced_when_it_dies(tmp_path: Path) -> None:
    writer = ChildPool("blob-writer", processes=1)
    store = LocalBlobStore(tmp_path / "root", writer=writer)
    try:
        await store.put_many([("p1/trace/t1/a.json", b"1")], durable=False)
        executor = writer._executor
        assert executor is not None
        for process in list(executor._processes.values()):  # the child is killed (OOM killer, say)
            process.kill()
            process.join()
        await store.put_many([(f"p1/observation/o{i}/e.json", b"%d" % i) for i in range(300)], durable=False)
        assert writer.replacements == 1
        assert len(await store.list("p1/observation/")) == 300
        assert await store.get("p1/trace/t1/a.json") == b"1"
    finally:
        await writer.close()
    await store.put_many([("p1/trace/t2/a.json", b"2")], durable=False)  # closed: written in-process
    assert await store.get("p1/trace/t2/a.json") == b"2"


async def test_localfs_writer_process_error_is_a_store_error(tmp_path: Path) -> None:
    writer = ChildPool("blob-writer", processes=1)
    store = LocalBlobStore(tmp_path / "root", writer=writer)
    try:
        await store.put("p1/a", b"x")
        with pytest.raises(BlobStoreError):
            await store.put_many([("p1/a/b", b"y")], durable=False)  # a file where a directory must go
        assert writer.replacements == 0
    finally:
        await writer.close()


async def test_s3_ping_fails_for_a_missing_bucket(moto_endpoint: str) -> None:
    s3 = await _open_test_s3("no-such-bucket", moto_endpoint)
    try:
        with pytest.raises(BlobStoreError):
            await s3.ping()
        with pytest.raises(BlobStoreError):
            await s3.put("k", b"x")
    finally:
        await s3.close()


async def test_s3_unreachable_endpoint_is_a_store_error() -> None:
    s3 = await _open_test_s3("b", f"http://127.0.0.1:{_free_port()}", connect_timeout=1, max_attempts=1)
    try:
        with pytest.raises(BlobStoreError):
            await s3.ping()
    finally:
        await s3.close()


async def test_s3_close_is_idempotent(moto_endpoint: str) -> None:
    s3 = await _open_test_s3("b", moto_endpoint)
    assert isinstance(s3, S3BlobStore)
    await s3.close()
    await s3.close()
