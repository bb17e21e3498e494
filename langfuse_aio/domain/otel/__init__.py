"""OpenTelemetry spans → Langfuse ingestion events (ingestion spec §6): decoding-independent and pure."""

from langfuse_aio.domain.otel.convert import Conversion, convert_spans
from langfuse_aio.domain.otel.spans import OtelEvent, OtelResourceSpans, OtelScope, OtelScopeSpans, OtelSpan

__all__ = ["Conversion", "OtelEvent", "OtelResourceSpans", "OtelScope", "OtelScopeSpans", "OtelSpan", "convert_spans"]
