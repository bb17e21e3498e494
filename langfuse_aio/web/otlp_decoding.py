"""One OTLP export request, from its bytes to the stored JSON envelopes of its valid events.

`prepare_export` is the CPU-heavy part of POST /api/public/otel/v1/traces (gunzip, protobuf or
OTLP/JSON parsing, span conversion, validation: ~7 ms of Python per 100 spans). The route runs it in
the `otlp_decoder` child pool, so the event loop keeps only HTTP, auth, the durable write and the
queue (the producer stores the encoded events as they come). With
`LANGFUSE_AIO_OTLP_DECODE_PROCESSES=0` it runs on the loop. Its errors (`OtlpRequestError`,
`OtlpTooLargeError`) come back from the child as they are, so the answer is the same either way.
"""

from __future__ import annotations

from dataclasses import dataclass

from langfuse_aio.domain import json_codec
from langfuse_aio.domain.entities import entities_of
from langfuse_aio.domain.otel import convert_spans
from langfuse_aio.web.otlp import Encoding, decode


@dataclass(frozen=True, slots=True)
class PreparedExport:
    encoding: Encoding
    # the valid events' stored JSON envelopes as one encoded array (bytes cross the process boundary
    # for the price of a copy; the dicts cost the parent ~15 % of a core to unpickle), and their entities
    events_json: bytes
    entities: list[tuple[str, str]]
    spans: int
    rejected_spans: int
    error_message: str  # OTLP's partial_success.error_message; empty when nothing was rejected


def prepare_export(body: bytes, content_type: str | None, content_encoding: str | None,
                   now_ms: int) -> PreparedExport:
    decoded = decode(body, content_type=content_type, content_encoding=content_encoding)
    result = convert_spans(decoded.resource_spans, now_ms=now_ms)
    events = [event.to_json() for event in result.events]
    return PreparedExport(decoded.encoding, json_codec.dumps(events), entities_of(events), result.spans,
                          result.rejected_spans, result.error_message())
