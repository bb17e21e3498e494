"""Organizations, projects and API keys: creation, headless init and the first-run default project."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import bcrypt
import structlog
from psycopg import AsyncConnection

from langfuse_aio.domain.apikeys import display_secret_key, fast_hash, generate_key_pair
from langfuse_aio.settings import InitSettings

log = structlog.get_logger(__name__)

BCRYPT_COST = 11  # Langfuse's cost for API-key secrets


@dataclass(frozen=True)
class CreatedKey:
    id: str
    project_id: str
    public_key: str
    secret_key: str


def _hash_secret(secret_key: str) -> str:
    # "$2a$" is what bcryptjs writes, so a Langfuse deployment can verify keys we create.
    return bcrypt.hashpw(secret_key.encode()[:72], bcrypt.gensalt(rounds=BCRYPT_COST, prefix=b"2a")).decode()


async def ensure_organization(conn: AsyncConnection[Any], org_id: str, name: str) -> None:
    await conn.execute(
        "INSERT INTO organizations (id, name) VALUES (%s, %s) ON CONFLICT (id) DO NOTHING", (org_id, name)
    )


async def ensure_project(conn: AsyncConnection[Any], project_id: str, org_id: str, name: str) -> None:
    await conn.execute(
        "INSERT INTO projects (id, org_id, name) VALUES (%s, %s, %s) ON CONFLICT (id) DO NOTHING",
        (project_id, org_id, name),
    )


async def create_api_key(
    conn: AsyncConnection[Any],
    project_id: str,
    *,
    salt: str,
    public_key: str | None = None,
    secret_key: str | None = None,
    note: str | None = None,
) -> CreatedKey:
    """Store a key pair hashed as Langfuse does (bcrypt cost 11 off the loop, plus the fast hash)."""
    if public_key is None or secret_key is None:
        public_key, secret_key = generate_key_pair()
    hashed = await asyncio.to_thread(_hash_secret, secret_key)
    key_id = str(uuid.uuid4())
    await conn.execute(
        "INSERT INTO api_keys (id, public_key, hashed_secret_key, fast_hashed_secret_key, "
        "display_secret_key, project_id, note) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (key_id, public_key, hashed, fast_hash(secret_key, salt), display_secret_key(secret_key), project_id, note),
    )
    return CreatedKey(key_id, project_id, public_key, secret_key)


async def apply_headless_init(conn: AsyncConnection[Any], init: InitSettings, *, salt: str) -> None:
    """LANGFUSE_INIT_*: upsert org, project and key; idempotent, and never renames or rotates."""
    if init.org_id is None:
        return
    await ensure_organization(conn, init.org_id, init.org_name or "Provisioned Org")
    if init.project_id is None:
        return
    await ensure_project(conn, init.project_id, init.org_id, init.project_name or "Provisioned Project")
    if init.public_key is None or init.secret_key is None:
        return
    cur = await conn.execute("SELECT project_id FROM api_keys WHERE public_key = %s", (init.public_key,))
    existing = await cur.fetchone()
    if existing is not None and existing[0] == init.project_id:
        return
    if existing is not None:
        # Langfuse moves a provisioned public key that belongs to another project.
        await conn.execute("DELETE FROM api_keys WHERE public_key = %s", (init.public_key,))
    await create_api_key(
        conn, init.project_id, salt=salt, public_key=init.public_key, secret_key=init.secret_key,
        note="Provisioned API Key",
    )
    log.info("headless_init_key_created", project_id=init.project_id, public_key=init.public_key)


async def create_default_project(conn: AsyncConnection[Any], *, salt: str) -> CreatedKey | None:
    """On a brand-new embedded install, make one project and key so an SDK can connect at once.

    Returns the key (to print once) or None when any project already exists."""
    cur = await conn.execute("SELECT 1 FROM projects LIMIT 1")
    if await cur.fetchone() is not None:
        return None
    org_id, project_id = "default-org", "default"
    await ensure_organization(conn, org_id, "Default Organization")
    await ensure_project(conn, project_id, org_id, "Default Project")
    return await create_api_key(conn, project_id, salt=salt, note="Default key created at first start")
