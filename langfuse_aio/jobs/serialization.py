"""JSON, not pickle, on the queue: jobs are plain data readable by any replica or tool."""

from __future__ import annotations

import json
from typing import Any


def job_serializer(job: dict[str, Any]) -> bytes:
    return json.dumps(job, separators=(",", ":"), default=str).encode()


def job_deserializer(raw: bytes) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(raw)
    return value
