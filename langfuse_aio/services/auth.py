"""API-key authentication against Postgres with Langfuse's optional Redis cache.

Order (Langfuse v3): fast hash → Redis cache (if enabled) → Postgres by fast hash → Postgres by
public key plus bcrypt, then backfill the fast hash. bcrypt runs in a worker thread, never on the
event loop. Keys of soft-deleted projects never authenticate.

In front of all that, a tiny in-process cache of recent successful Basic logins (by fast hash) for
`LOCAL_TTL_SECONDS`: an SDK sends a batch every second or so per key, and the Postgres round trip
was ~11 % of an ingestion request. The TTL is short so that a revoked key fails within a second;
only successes are kept, and `invalidate_project_keys` drops a project's entries at once.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import bcrypt
import structlog
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis
from redis.exceptions import RedisError

from langfuse_aio.domain.apikeys import (
    MSG_INVALID_CREDENTIALS,
    MSG_INVALID_PUBLIC_KEY,
    AccessLevel,
    AuthHeaderError,
    BasicCredentials,
    fast_hash,
    parse_authorization,
)
from langfuse_aio.domain.errors import UnauthorizedError

log = structlog.get_logger(__name__)

CACHE_PREFIX = "api-key:"
NON_EXISTENT = "api-key-non-existent"
LOCAL_TTL_SECONDS = 0.5
LOCAL_MAX_ENTRIES = 1024

_SELECT_KEY = (
    "SELECT k.id, k.note, k.public_key, k.display_secret_key, k.created_at, k.last_used_at, k.expires_at, "
    "k.project_id, k.fast_hashed_secret_key, k.hashed_secret_key, p.org_id "
    "FROM api_keys k JOIN projects p ON p.id = k.project_id AND p.deleted_at IS NULL "
)
_BY_PUBLIC_KEY = _SELECT_KEY + "WHERE k.public_key = %s"
_BY_FAST_HASH = _SELECT_KEY + "WHERE k.fast_hashed_secret_key = %s"


@dataclass(frozen=True)
class AuthScope:
    project_id: str
    org_id: str
    access_level: AccessLevel
    public_key: str
    api_key_id: str | None


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="milliseconds") + "Z"


def _cache_value(row: dict[str, Any]) -> str:
    """The cached object in Langfuse's field names, so a Langfuse web could read ours and back."""
    return json.dumps(
        {
            "id": row["id"],
            "note": row["note"],
            "publicKey": row["public_key"],
            "displaySecretKey": row["display_secret_key"],
            "createdAt": _iso(row["created_at"]),
            "lastUsedAt": _iso(row["last_used_at"]),
            "expiresAt": _iso(row["expires_at"]),
            "projectId": row["project_id"],
            "fastHashedSecretKey": row["fast_hashed_secret_key"],
            "hashedSecretKey": row["hashed_secret_key"],
            "orgId": row["org_id"],
            "plan": "oss",
            "rateLimitOverrides": [],
        }
    )


def _check_bcrypt(secret: str, hashed: str) -> bool:
    # bcryptjs (Langfuse) only looks at the first 72 bytes; python-bcrypt refuses longer input.
    try:
        return bcrypt.checkpw(secret.encode()[:72], hashed.encode())
    except ValueError:
        return False


class ApiKeyAuth:
    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        redis: Redis | None,
        *,
        salt: str,
        cache_enabled: bool,
        cache_ttl_seconds: int,
    ) -> None:
        self._pool = pool
        self._redis = redis
        self._salt = salt
        self._cache = cache_enabled and redis is not None
        self._ttl = cache_ttl_seconds
        self._local: dict[str, tuple[float, AuthScope]] = {}  # fast hash -> (expiry, scope)

    async def authenticate(self, header: str | None) -> AuthScope:
        """Resolve an Authorization header to a scope; raise UnauthorizedError with Langfuse's message."""
        try:
            creds = parse_authorization(header)
        except AuthHeaderError as exc:
            raise UnauthorizedError(exc.message) from exc
        if isinstance(creds, BasicCredentials):
            return await self._basic(creds)
        row = await self._fetch_one(_BY_PUBLIC_KEY, creds.public_key)
        if row is None:
            raise UnauthorizedError(MSG_INVALID_PUBLIC_KEY)
        return AuthScope(row["project_id"], row["org_id"], AccessLevel.SCORES, row["public_key"], row["id"])

    async def _basic(self, creds: BasicCredentials) -> AuthScope:
        hashed = fast_hash(creds.secret_key, self._salt)
        now = time.monotonic()
        local = self._local.get(hashed)
        if local is not None and local[0] > now and local[1].public_key == creds.public_key:
            return local[1]
        scope = await self._basic_uncached(creds, hashed)
        if len(self._local) >= LOCAL_MAX_ENTRIES:
            self._local = {h: e for h, e in self._local.items() if e[0] > now}
            if len(self._local) >= LOCAL_MAX_ENTRIES:
                self._local.clear()
        self._local[hashed] = (now + LOCAL_TTL_SECONDS, scope)
        return scope

    async def _basic_uncached(self, creds: BasicCredentials, hashed: str) -> AuthScope:
        cached = await self._cache_get(hashed)
        if cached == NON_EXISTENT:
            raise UnauthorizedError(MSG_INVALID_CREDENTIALS)
        if isinstance(cached, dict):
            return AuthScope(cached["projectId"], cached["orgId"], AccessLevel.ALL, cached["publicKey"], cached["id"])

        row = await self._fetch_one(_BY_FAST_HASH, hashed)
        if row is not None:
            await self._cache_set(hashed, _cache_value(row))
            return AuthScope(row["project_id"], row["org_id"], AccessLevel.ALL, row["public_key"], row["id"])

        row = await self._fetch_one(_BY_PUBLIC_KEY, creds.public_key)
        if row is None:
            await self._cache_set(hashed, json.dumps(NON_EXISTENT))
            raise UnauthorizedError(MSG_INVALID_CREDENTIALS)
        if not await asyncio.to_thread(_check_bcrypt, creds.secret_key, row["hashed_secret_key"]):
            raise UnauthorizedError(MSG_INVALID_CREDENTIALS)
        async with self._pool.connection() as conn:
            await conn.execute(
                "UPDATE api_keys SET fast_hashed_secret_key = %s WHERE id = %s", (hashed, row["id"])
            )
        log.info("api_key_fast_hash_backfilled", api_key_id=row["id"], project_id=row["project_id"])
        return AuthScope(row["project_id"], row["org_id"], AccessLevel.ALL, row["public_key"], row["id"])

    async def _fetch_one(self, sql: str, value: str) -> dict[str, Any] | None:
        async with self._pool.connection() as conn:
            cur = await conn.cursor(row_factory=dict_row).execute(sql, (value,))
            row: dict[str, Any] | None = await cur.fetchone()
            return row

    async def _cache_get(self, hashed: str) -> object:
        if not self._cache or self._redis is None:
            return None
        key = CACHE_PREFIX + hashed
        try:
            raw = await self._redis.getex(key, ex=self._ttl)
        except RedisError as exc:
            log.warning("api_key_cache_unavailable", error=str(exc))
            return None
        if raw is None:
            return None
        try:
            value: object = json.loads(raw)
        except ValueError:
            value = None
        if value == NON_EXISTENT or (isinstance(value, dict) and {"projectId", "orgId", "id"} <= value.keys()):
            return value
        await self._redis.delete(key)
        return None

    async def _cache_set(self, hashed: str, value: str) -> None:
        if not self._cache or self._redis is None:
            return
        try:
            await self._redis.set(CACHE_PREFIX + hashed, value, ex=self._ttl)
        except RedisError as exc:
            log.warning("api_key_cache_unavailable", error=str(exc))

    async def invalidate_project_keys(self, project_id: str) -> int:
        """Drop every cached entry of a project's keys (done whenever Redis exists, cache on or off)."""
        self._local = {h: e for h, e in self._local.items() if e[1].project_id != project_id}
        if self._redis is None:
            return 0
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT fast_hashed_secret_key FROM api_keys WHERE project_id = %s "
                "AND fast_hashed_secret_key IS NOT NULL",
                (project_id,),
            )
            keys = [CACHE_PREFIX + r[0] for r in await cur.fetchall()]
        if keys:
            await self._redis.delete(*keys)
        return len(keys)
