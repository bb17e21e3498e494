"""Shared fixtures. LANGFUSE_AIO_TEST_STORES picks the store set: `embedded` (default) or `external`."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from arq.worker import Worker
from quart import Quart
from quart.typing import TestClientProtocol as Client

from langfuse_aio.jobs.worker import build_worker, run_until_stopped
from langfuse_aio.runtime.resources import Resources, open_resources
from langfuse_aio.settings import Settings, load_settings
from langfuse_aio.storage.clickhouse.writer import ClickHouseWriter
from langfuse_aio.web.app import create_app
from tests.factories import TestProject, make_project
from tests.support import external

STORES = os.environ.get("LANGFUSE_AIO_TEST_STORES", "embedded")


def pytest_report_header() -> str:
    return f"langfuse-aio store set: {STORES}"


@pytest.fixture(scope="session")
def store_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    tmp = tmp_path_factory.mktemp("stores")
    env = {"LANGFUSE_AIO_DATA_DIR": str(tmp / "data"), "LANGFUSE_LOG_FORMAT": "text"}
    if STORES == "embedded":
        yield env
        return
    with contextlib.ExitStack() as stack:
        s3_url = stack.enter_context(external.moto_s3(tmp))
        ch_url = stack.enter_context(external.chdb_http(tmp))
        db_url = stack.enter_context(external.scratch_database())
        env.update(
            DATABASE_URL=db_url,
            SALT="test-salt",
            CLICKHOUSE_URL=ch_url,
            CLICKHOUSE_USER="default",
            CLICKHOUSE_PASSWORD="",
            REDIS_CONNECTION_STRING=external.redis_url(),
            LANGFUSE_S3_EVENT_UPLOAD_BUCKET="langfuse-test",
            LANGFUSE_S3_EVENT_UPLOAD_ENDPOINT=s3_url,
            LANGFUSE_S3_EVENT_UPLOAD_REGION="us-east-1",
            LANGFUSE_S3_EVENT_UPLOAD_ACCESS_KEY_ID="test",
            LANGFUSE_S3_EVENT_UPLOAD_SECRET_ACCESS_KEY="test",
            LANGFUSE_S3_EVENT_UPLOAD_FORCE_PATH_STYLE="true",
        )
        import boto3

        boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1", aws_access_key_id="test",
                     aws_secret_access_key="test").create_bucket(Bucket="langfuse-test")
        yield env


@pytest.fixture(scope="session")
def settings(store_env: dict[str, str]) -> Settings:
    return load_settings(store_env)


@pytest.fixture(scope="session")
async def resources(settings: Settings) -> AsyncIterator[Resources]:
    async with open_resources(settings) as res:
        await res.redis.flushdb()
        yield res


@pytest.fixture(scope="session")
def app(resources: Resources) -> Quart:
    return create_app(resources)


@pytest.fixture(scope="session")
async def worker(resources: Resources) -> AsyncIterator[Worker]:
    """The arq worker and its ClickHouse writer running in the test loop, as in --mode all."""
    writer = ClickHouseWriter(resources.clickhouse, interval_seconds=0.02)
    await writer.start()
    arq_worker = build_worker(resources, writer)
    stop = asyncio.Event()
    task = asyncio.create_task(run_until_stopped(arq_worker, stop, grace_seconds=5))
    yield arq_worker
    stop.set()
    await task
    await writer.close()


@pytest.fixture
def client(app: Quart) -> Client:
    return app.test_client()


@pytest.fixture
async def project(resources: Resources) -> TestProject:
    return await make_project(resources)


@pytest.fixture
async def other_project(resources: Resources) -> TestProject:
    return await make_project(resources, name="other project")


def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]
