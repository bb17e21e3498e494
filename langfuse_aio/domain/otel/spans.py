"""OTLP spans as plain Python data, whatever the wire encoding (protobuf or OTLP/JSON); pure.

The web layer decodes an `ExportTraceServiceRequest` into these shapes, so the mapping in this package
never sees protobuf:
- ids are lowercase hex strings (trace 32 characters, span 16), `""` when absent;
- times are integers in nanoseconds since the epoch, 0 when absent;
- attribute values are already plain (`AnyValue` → str, bool, int, float, list; a kvlist or bytes
  value arrives as the JSON text of the `AnyValue`, as Langfuse does).
"""

from __future__ import annotations

import functools
import time
from typing import Any, TypedDict


class OtelEvent(TypedDict, total=False):
    name: str
    timeUnixNano: int
    attributes: dict[str, Any]


class OtelStatus(TypedDict, total=False):
    code: int  # 0 unset, 1 ok, 2 error
    message: str


class OtelSpan(TypedDict, total=False):
    traceId: str
    spanId: str
    parentSpanId: str
    name: str
    kind: int
    startTimeUnixNano: int
    endTimeUnixNano: int
    attributes: dict[str, Any]
    events: list[OtelEvent]
    status: OtelStatus


class OtelScope(TypedDict, total=False):
    name: str
    version: str
    attributes: dict[str, Any]


class OtelScopeSpans(TypedDict, total=False):
    scope: OtelScope
    spans: list[OtelSpan]


class OtelResourceSpans(TypedDict, total=False):
    resource: dict[str, Any]  # the resource's attributes
    scopeSpans: list[OtelScopeSpans]


_MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


@functools.lru_cache(maxsize=4096)
def _second(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def ms_to_iso(ms: int) -> str:
    """Epoch milliseconds → `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC)."""
    seconds, millis = divmod(ms, 1000)
    return f"{_second(seconds)}.{millis:03d}Z"


def span_times(start_ns: int, end_ns: int, now_ms: int) -> tuple[str, str]:
    """Start and end as ISO text with millisecond precision, truncated (ns // 10^6, not rounded).

    A missing time (0) takes the other one; both missing take `now_ms`. Values past year 9999 are
    clamped there (they cannot be stored as DateTime64(3) anyway)."""
    start_ms, end_ms = start_ns // 1_000_000, end_ns // 1_000_000
    if start_ms <= 0:
        start_ms = end_ms if end_ms > 0 else now_ms
    if end_ms <= 0:
        end_ms = start_ms
    return ms_to_iso(min(start_ms, _MAX_MS)), ms_to_iso(min(end_ms, _MAX_MS))
