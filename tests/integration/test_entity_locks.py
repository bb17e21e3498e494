"""Per-entity locks in Redis: many taken and released in one script call each, never another job's."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from langfuse_aio.runtime.resources import Resources
from langfuse_aio.storage.redis.locks import EntityLocks

pytestmark = pytest.mark.integration


def _names(n: int) -> list[str]:
    run = uuid.uuid4().hex
    return [f"p:{run}:observation:{i}" for i in range(n)]


async def test_a_job_gets_only_the_entities_no_other_job_holds(resources: Resources) -> None:
    locks = EntityLocks(resources.redis)
    names = _names(150)
    assert await locks.acquire(names[:50], "job-a") == names[:50]
    assert await locks.acquire(names, "job-b") == names[50:]  # busy ones deferred, in order
    await locks.release(names, "job-a")  # releases only its own 50
    assert await locks.acquire(names, "job-c") == names[:50]
    assert await locks.acquire(names, "job-a") == []


async def test_release_with_another_token_leaves_the_lock(resources: Resources) -> None:
    locks = EntityLocks(resources.redis)
    names = _names(3)
    await locks.acquire(names, "owner")
    await locks.release(names, "somebody-else")
    assert await locks.acquire(names, "third") == []
    await locks.release(names, "owner")
    assert await locks.acquire(names, "third") == names


async def test_a_lock_expires_after_its_ttl(resources: Resources) -> None:
    locks = EntityLocks(resources.redis, ttl_ms=200)
    names = _names(2)
    await locks.acquire(names, "crashed-job")
    assert await locks.acquire(names, "next") == []
    await asyncio.sleep(0.3)
    assert await locks.acquire(names, "next") == names


async def test_the_scripts_are_loaded_again_after_a_script_flush(resources: Resources) -> None:
    locks = EntityLocks(resources.redis)
    names = _names(2)
    await resources.redis.script_flush()  # e.g. a Redis restart: EVALSHA must fall back to loading
    assert await locks.acquire(names, "job") == names
    await resources.redis.script_flush()
    await locks.release(names, "job")
    assert await locks.acquire(names, "other") == names
