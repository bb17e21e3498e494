"""Test data factories: real rows through the same code the server uses."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass

from langfuse_aio.runtime.resources import Resources
from langfuse_aio.services.provisioning import create_api_key, ensure_organization, ensure_project


@dataclass(frozen=True)
class TestProject:
    __test__ = False
    id: str
    org_id: str
    public_key: str
    secret_key: str

    @property
    def basic(self) -> dict[str, str]:
        token = base64.b64encode(f"{self.public_key}:{self.secret_key}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.public_key}"}


async def make_project(res: Resources, *, name: str = "test project") -> TestProject:
    suffix = uuid.uuid4().hex[:10]
    org_id, project_id = f"org-{suffix}", f"proj-{suffix}"
    async with res.pg.connection() as conn:
        await ensure_organization(conn, org_id, f"org {suffix}")
        await ensure_project(conn, project_id, org_id, name)
        key = await create_api_key(conn, project_id, salt=res.salt)
    return TestProject(project_id, org_id, key.public_key, key.secret_key)
