"""Short per-entity locks in Redis, taken and released for many entities in one round trip each.

Two jobs that merge the same entity at once could each read a different set of stored events and
the one with less information could be written last. Holding the entity's lock from listing its
events until its row is flushed makes the later job see everything the earlier one wrote.
"""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class EntityLocks:
    def __init__(self, redis: Redis, *, namespace: str = "langfuse-aio:entity-lock:", ttl_ms: int = 30_000) -> None:
        self._redis = redis
        self._namespace = namespace
        self._ttl_ms = ttl_ms

    def _key(self, name: str) -> str:
        return self._namespace + name

    async def acquire(self, names: Sequence[str], token: str) -> list[str]:
        """Try to lock every name; return the names that were locked by `token`."""
        if not names:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.set(self._key(name), token, nx=True, px=self._ttl_ms)
            results = await pipe.execute()
        return [name for name, ok in zip(names, results, strict=True) if ok]

    async def clear_all(self) -> int:
        """Drop every lock (only when no other worker can hold one: a restarted single process)."""
        keys = [key async for key in self._redis.scan_iter(match=self._namespace + "*", count=1000)]
        if keys:
            await self._redis.delete(*keys)
        return len(keys)

    async def release(self, names: Sequence[str], token: str) -> None:
        if not names:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.eval(_RELEASE, 1, self._key(name), token)
            await pipe.execute()
