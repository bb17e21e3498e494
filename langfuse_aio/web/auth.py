"""Route-level authentication: which access levels a route accepts, and Langfuse's 401 bodies."""

from __future__ import annotations

from typing import cast

from quart import current_app, request

from langfuse_aio.domain.apikeys import MSG_NEED_BASIC, AccessLevel
from langfuse_aio.domain.errors import UnauthorizedError
from langfuse_aio.runtime.resources import Resources
from langfuse_aio.services.auth import AuthScope


def resources() -> Resources:
    return cast(Resources, current_app.config["RESOURCES"])


async def authenticate(*, allow_bearer: bool = False) -> AuthScope:
    """Authenticate the current request; Bearer (public key only) passes only where Langfuse allows it."""
    scope = await resources().auth.authenticate(request.headers.get("Authorization"))
    if scope.access_level is not AccessLevel.ALL and not allow_bearer:
        raise UnauthorizedError(MSG_NEED_BASIC)
    return scope
