"""Reading request bodies: size limit first, then JSON, with clear 4xx answers for bad input."""

from __future__ import annotations

import json
from typing import Any

from quart import request
from werkzeug.exceptions import RequestEntityTooLarge

from langfuse_aio.domain.errors import LangfuseError
from langfuse_aio.domain.jsonsafe import may_have_surrogates, replace_lone_surrogates

MAX_BODY_BYTES = 4_718_592  # Langfuse's 4.5 MB body limit (4.5 * 1024 * 1024 bytes)


class PayloadTooLargeError(LangfuseError):
    status = 413
    error = "PayloadTooLargeError"


class InvalidJsonError(LangfuseError):
    status = 400
    error = "InvalidRequestError"


async def read_body(limit: int = MAX_BODY_BYTES) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLargeError("Body exceeded 4.5mb limit")
    try:
        data = await request.get_data(cache=False, as_text=False)
    except RequestEntityTooLarge as exc:  # chunked bodies are cut off while they stream in
        raise PayloadTooLargeError("Body exceeded 4.5mb limit") from exc
    body = data if isinstance(data, bytes) else data.encode()
    if len(body) > limit:  # the app-wide cap is the largest route limit (OTLP's), so check this route's
        raise PayloadTooLargeError("Body exceeded 4.5mb limit")
    return body


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(raw: bytes) -> Any:
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise InvalidJsonError("Invalid JSON: nested too deeply") from exc
    except UnicodeDecodeError as exc:
        raise InvalidJsonError(f"Invalid JSON: body is not valid UTF-8 ({exc.reason} at byte {exc.start})") from exc
    except ValueError as exc:
        raise InvalidJsonError(f"Invalid JSON: {exc}") from exc
    return replace_lone_surrogates(value) if may_have_surrogates(raw) else value


async def read_json(limit: int = MAX_BODY_BYTES) -> Any:
    return parse_json(await read_body(limit))
