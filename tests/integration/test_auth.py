"""API-key auth against real Postgres and Redis, through the HTTP routes where it shows."""

from __future__ import annotations

import asyncio
import base64
import uuid

import pytest
from quart.typing import TestClientProtocol as Client

from langfuse_aio.domain.apikeys import AccessLevel, fast_hash
from langfuse_aio.domain.errors import UnauthorizedError
from langfuse_aio.runtime.resources import Resources
from langfuse_aio.services.auth import CACHE_PREFIX, LOCAL_TTL_SECONDS, ApiKeyAuth
from langfuse_aio.services.provisioning import create_api_key, ensure_organization, ensure_project
from tests.factories import TestProject

pytestmark = pytest.mark.integration

# Made by bcryptjs 2.4.3 (Langfuse's library) with cost 11, as Langfuse v2 stores api_keys.hashed_secret_key.
V2_SECRET = "sk-lf-1f6e9b0c-2a4d-4c8e-9f1a-3b5c7d9e0f12"
# hashed_secret_key is UNIQUE, so each test gets its own hash of the same secret.
V2_BCRYPT = [
    "$2a$11$mwjiMhnjl5SNY6Ne6lyBBe8YhfAb8qcZAnl/yXwiwcAxk5aPvgerm",
    "$2a$11$MjIAXd4a0SqEXnjEV7EQQe2puL4mekoOcmOSejm0xfxRa9V2wxgF2",
    "$2a$11$gWwGAwWXwrR32wRJMeGsIOV5e4XCiOyYT89RiAs7uNN9XFy4M6AkG",
]

INVALID_CREDENTIALS = "Invalid credentials. Confirm that you've configured the correct host."


def basic(pk: str, sk: str) -> str:
    return "Basic " + base64.b64encode(f"{pk}:{sk}".encode()).decode()


async def insert_v2_key(res: Resources, bcrypt_hash: str) -> tuple[str, str]:
    """A key row exactly as Langfuse v2 wrote it before fast hashes existed."""
    suffix = uuid.uuid4().hex[:8]
    project_id, public_key = f"v2proj-{suffix}", f"pk-lf-v2-{suffix}"
    async with res.pg.connection() as conn:
        await ensure_organization(conn, f"o{project_id}", "v2 org")
        await ensure_project(conn, project_id, f"o{project_id}", "v2 project")
        await conn.execute(
            "INSERT INTO api_keys (id, public_key, hashed_secret_key, display_secret_key, project_id) "
            "VALUES (%s, %s, %s, %s, %s)",
            (f"key-{suffix}", public_key, bcrypt_hash, "sk-lf-...0f12", project_id),
        )
    return project_id, public_key


async def test_a_langfuse_v2_key_verifies_and_gets_its_fast_hash(resources: Resources) -> None:
    project_id, public_key = await insert_v2_key(resources, V2_BCRYPT[0])
    scope = await resources.auth.authenticate(basic(public_key, V2_SECRET))
    assert scope.project_id == project_id and scope.access_level is AccessLevel.ALL
    async with resources.pg.connection() as conn:
        cur = await conn.execute("SELECT fast_hashed_secret_key FROM api_keys WHERE public_key = %s", (public_key,))
        row = await cur.fetchone()
    assert row is not None and row[0] == fast_hash(V2_SECRET, resources.salt)
    # Second time through the fast path.
    assert (await resources.auth.authenticate(basic(public_key, V2_SECRET))).project_id == project_id


async def test_wrong_secret_of_a_v2_key_is_rejected(resources: Resources) -> None:
    _, public_key = await insert_v2_key(resources, V2_BCRYPT[1])
    with pytest.raises(UnauthorizedError) as info:
        await resources.auth.authenticate(basic(public_key, V2_SECRET + "x"))
    assert info.value.message == INVALID_CREDENTIALS


async def test_an_overlong_secret_is_a_401_not_a_crash(resources: Resources, project: TestProject) -> None:
    with pytest.raises(UnauthorizedError):
        await resources.auth.authenticate(basic(project.public_key, "s" * 5000))


async def test_cache_serves_keys_and_negative_marker(resources: Resources, project: TestProject) -> None:
    auth = ApiKeyAuth(resources.pg, resources.redis, salt=resources.salt, cache_enabled=True, cache_ttl_seconds=60)
    scope = await auth.authenticate(basic(project.public_key, project.secret_key))
    cache_key = CACHE_PREFIX + fast_hash(project.secret_key, resources.salt)
    assert await resources.redis.ttl(cache_key) > 0
    # The cached entry answers even after the row is gone: that is why deletion invalidates first.
    async with resources.pg.connection() as conn:
        await conn.execute("UPDATE api_keys SET fast_hashed_secret_key = NULL WHERE public_key = %s",
                           (project.public_key,))
    assert (await auth.authenticate(basic(project.public_key, project.secret_key))) == scope
    assert await auth.invalidate_project_keys(project.id) == 0  # its fast hash was cleared above
    await resources.redis.delete(cache_key)

    unknown_pk, unknown_sk = "pk-lf-unknown-" + uuid.uuid4().hex, "sk-lf-unknown-" + uuid.uuid4().hex
    with pytest.raises(UnauthorizedError):
        await auth.authenticate(basic(unknown_pk, unknown_sk))
    marker_key = CACHE_PREFIX + fast_hash(unknown_sk, resources.salt)
    assert await resources.redis.get(marker_key) == b'"api-key-non-existent"'
    # While the marker lives the hash is rejected without a Postgres lookup, even once the key exists.
    async with resources.pg.connection() as conn:
        await create_api_key(conn, project.id, salt=resources.salt, public_key=unknown_pk, secret_key=unknown_sk)
    with pytest.raises(UnauthorizedError):
        await auth.authenticate(basic(unknown_pk, unknown_sk))
    await resources.redis.delete(marker_key)
    assert (await auth.authenticate(basic(unknown_pk, unknown_sk))).project_id == project.id


async def test_invalidate_removes_cached_keys(resources: Resources, project: TestProject) -> None:
    auth = ApiKeyAuth(resources.pg, resources.redis, salt=resources.salt, cache_enabled=True, cache_ttl_seconds=60)
    await auth.authenticate(basic(project.public_key, project.secret_key))
    assert await auth.invalidate_project_keys(project.id) == 1
    assert await resources.redis.get(CACHE_PREFIX + fast_hash(project.secret_key, resources.salt)) is None


async def test_keys_of_a_deleted_project_stop_working(resources: Resources, project: TestProject) -> None:
    header = basic(project.public_key, project.secret_key)
    await resources.auth.authenticate(header)
    async with resources.pg.connection() as conn:
        await conn.execute("UPDATE projects SET deleted_at = now() WHERE id = %s", (project.id,))
    # The in-process cache may answer for up to LOCAL_TTL_SECONDS; within a second the key fails.
    await asyncio.sleep(LOCAL_TTL_SECONDS)
    with pytest.raises(UnauthorizedError):
        await resources.auth.authenticate(header)


async def test_a_revoked_key_fails_within_a_second_and_at_once_after_invalidation(
    resources: Resources, project: TestProject
) -> None:
    auth = ApiKeyAuth(resources.pg, resources.redis, salt=resources.salt, cache_enabled=False, cache_ttl_seconds=60)
    header = basic(project.public_key, project.secret_key)
    await auth.authenticate(header)
    async with resources.pg.connection() as conn:
        await conn.execute("DELETE FROM api_keys WHERE public_key = %s", (project.public_key,))
    assert LOCAL_TTL_SECONDS <= 0.5
    await asyncio.sleep(LOCAL_TTL_SECONDS)
    with pytest.raises(UnauthorizedError):
        await auth.authenticate(header)

    other = ApiKeyAuth(resources.pg, resources.redis, salt=resources.salt, cache_enabled=False, cache_ttl_seconds=60)
    async with resources.pg.connection() as conn:
        await create_api_key(conn, project.id, salt=resources.salt, public_key=project.public_key,
                             secret_key=project.secret_key)
    await other.authenticate(header)
    await other.invalidate_project_keys(project.id)
    async with resources.pg.connection() as conn:
        await conn.execute("DELETE FROM api_keys WHERE public_key = %s", (project.public_key,))
    with pytest.raises(UnauthorizedError):
        await other.authenticate(header)


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "No authorization header"),
        ({"Authorization": "Token x"}, "Invalid authorization header"),
        ({"Authorization": "Basic bm9jb2xvbg=="},
         "Invalid authorization header. Confirm that you've configured the correct host."),
        ({"Authorization": basic("pk-lf-nope", "sk-lf-nope")}, INVALID_CREDENTIALS),
        ({"Authorization": "Bearer pk-lf-nope"},
         "Invalid public key. Confirm that you've configured the correct host."),
    ],
)
async def test_projects_route_401_bodies(client: Client, headers: dict[str, str], message: str) -> None:
    response = await client.get("/api/public/projects", headers=headers)
    assert response.status_code == 401
    body = await response.get_json()
    assert body["message"] == message


async def test_projects_answers_for_the_keys_project_only(
    client: Client, project: TestProject, other_project: TestProject
) -> None:
    response = await client.get("/api/public/projects", headers=project.basic)
    assert response.status_code == 200
    body = await response.get_json()
    assert body == {"data": [{"id": project.id, "name": "test project", "metadata": {},
                              "organization": {"id": project.org_id, "name": body["data"][0]["organization"]["name"]}}]}
    assert other_project.id not in str(body)


async def test_projects_accepts_the_bearer_public_key(client: Client, project: TestProject) -> None:
    response = await client.get("/api/public/projects", headers=project.bearer)
    assert response.status_code == 200
    assert (await response.get_json())["data"][0]["id"] == project.id


async def test_wrong_secret_for_a_known_public_key(client: Client, project: TestProject) -> None:
    response = await client.get("/api/public/projects",
                                headers={"Authorization": basic(project.public_key, "sk-lf-wrong")})
    assert response.status_code == 401
    assert (await response.get_json())["message"] == INVALID_CREDENTIALS


async def test_health_reports_ok_with_version(client: Client) -> None:
    response = await client.get("/api/public/health")
    assert response.status_code == 200
    body = await response.get_json()
    assert body["status"] == "OK" and body["version"]


async def test_unknown_route_and_method_are_json(client: Client) -> None:
    response = await client.get("/api/public/nope")
    assert response.status_code == 404 and (await response.get_json())["message"]
    response = await client.delete("/api/public/health")
    assert response.status_code == 405
    assert await response.get_json() == {"message": "Method not allowed", "error": "MethodNotAllowedError"}
