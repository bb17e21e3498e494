"""Child pools: results and errors come back as they are; a crashing call never takes the server down."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator

import pytest
from quart.typing import TestClientProtocol as Client

from langfuse_aio.runtime.child_pool import ChildPool, ChildPoolTimeout, ChildPoolUnavailable
from langfuse_aio.runtime.resources import Resources
from langfuse_aio.web import routes_otel
from tests.factories import TestProject
from tests.support.otlp import OTEL_PATH, protobuf_body, protobuf_headers, sample_body

pytestmark = pytest.mark.integration


def _crash(*_: object) -> None:
    os._exit(3)  # as a segfault or the OOM killer would end it


def _fail(kind: str) -> None:
    raise {"value": ValueError, "runtime": RuntimeError}[kind](f"{kind} from the child")


def _set_marker(value: str) -> None:
    os.environ["LANGFUSE_AIO_TEST_CHILD_MARKER"] = value


def _marker_and_pid() -> tuple[str | None, int]:
    return os.environ.get("LANGFUSE_AIO_TEST_CHILD_MARKER"), os.getpid()


@pytest.fixture
async def pool() -> AsyncIterator[ChildPool]:
    child_pool = ChildPool("test", processes=1)
    yield child_pool
    await child_pool.close()


async def test_results_and_exceptions_come_back_unchanged(pool: ChildPool) -> None:
    assert await pool.run(divmod, 17, 5) == (3, 2)
    with pytest.raises(ValueError, match="value from the child"):
        await pool.run(_fail, "value")
    with pytest.raises(RuntimeError, match="runtime from the child"):  # not mistaken for a broken pool
        await pool.run(_fail, "runtime")
    assert pool.replacements == 0


async def test_a_call_that_kills_its_child_twice_is_refused_and_the_pool_recovers(pool: ChildPool) -> None:
    with pytest.raises(ChildPoolUnavailable):
        await pool.run(_crash)
    assert pool.replacements == 2
    assert await pool.run(divmod, 9, 2) == (4, 1)


async def test_every_child_runs_the_initializer_a_new_one_too() -> None:
    pool = ChildPool("init", processes=1, initializer=_set_marker, initargs=("ready",))
    try:
        marker, first = await pool.run(_marker_and_pid)
        assert marker == "ready" and first != os.getpid()
        with pytest.raises(ChildPoolUnavailable):
            await pool.run(_crash)
        marker, replacement = await pool.run(_marker_and_pid)
        assert marker == "ready" and replacement != first
    finally:
        await pool.close()


async def test_a_call_past_the_timeout_kills_its_child_and_the_pool_recovers() -> None:
    pool = ChildPool("slow", processes=1, timeout_seconds=2)
    try:
        first = await pool.run(os.getpid)  # start-up is not part of the timeout under test
        started = time.monotonic()
        with pytest.raises(ChildPoolTimeout, match="no answer from the slow pool"):
            await pool.run(time.sleep, 30)
        assert time.monotonic() - started < 5
        assert pool.replacements == 1
        assert await pool.run(os.getpid) not in (first, os.getpid())
    finally:
        await pool.close()

    def gone(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False

    assert gone(first)  # killed, not left sleeping


async def test_no_children_or_closed_means_unavailable(pool: ChildPool) -> None:
    with pytest.raises(ChildPoolUnavailable):
        await ChildPool("none", processes=0).run(divmod, 1, 1)
    await pool.close()
    with pytest.raises(ChildPoolUnavailable):
        await pool.run(divmod, 1, 1)


async def test_an_export_that_crashes_the_decoder_is_a_400_and_the_next_one_works(
    client: Client, project: TestProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = protobuf_body(sample_body("py-v5.0.4-otlp-traces.json"), compress=False)
    headers = protobuf_headers(project.basic, compress=False)
    monkeypatch.setattr(routes_otel, "prepare_export", _crash)
    response = await client.post(OTEL_PATH, data=body, headers=headers)
    assert response.status_code == 400
    assert "decoder crashed" in (await response.get_json())["message"]
    monkeypatch.undo()
    response = await client.post(OTEL_PATH, data=body, headers=headers)
    assert response.status_code == 200


async def test_decoding_on_the_loop_answers_the_same(
    client: Client, project: TestProject, resources: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(resources, "otlp_decoder", ChildPool("otlp-decoder", processes=0))
    body = protobuf_body(sample_body("py-v5.0.4-otlp-traces.json"), compress=True)
    response = await client.post(OTEL_PATH, data=body, headers=protobuf_headers(project.basic, compress=True))
    assert response.status_code == 200
    response = await client.post(OTEL_PATH, data=b"not gzip", headers={
        **project.basic, "Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"})
    assert response.status_code == 400 and "decompress" in (await response.get_json())["message"]
