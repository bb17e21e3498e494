"""OTLP/HTTP trace requests: bytes in (protobuf or OTLP/JSON, gzip or not), plain spans out; and the
`ExportTraceServiceResponse` back in the request's encoding.

Decoding uses the official `opentelemetry-proto` messages. OTLP/JSON differs from protobuf's JSON
mapping in one way that matters: trace and span ids are hex strings, not base64. They are rewritten
to base64 before `json_format.ParseDict` (an id that is not hex of the right length is left as it
is, so a client that sends base64 still works). Every failure is a 400 naming what was wrong.
"""

from __future__ import annotations

import base64
import json
import math
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final, Literal

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span

from langfuse_aio.domain.errors import LangfuseError
from langfuse_aio.domain.otel import OtelEvent, OtelResourceSpans, OtelScopeSpans, OtelSpan

Encoding = Literal["protobuf", "json"]
PROTOBUF: Final = "application/x-protobuf"
JSON: Final = "application/json"
# 16 MiB on the wire and after decompression: OTLP batches (512 spans by default) with large
# inputs and outputs outgrow ingestion's 4.5 MB, and Langfuse only starts logging OTel bodies at 16 MB.
MAX_OTLP_BODY_BYTES: Final = 16 * 1024 * 1024


class OtlpRequestError(LangfuseError):
    status = 400
    error = "InvalidRequestError"


class OtlpTooLargeError(LangfuseError):
    status = 413
    error = "PayloadTooLargeError"


@dataclass(frozen=True, slots=True)
class DecodedRequest:
    encoding: Encoding
    resource_spans: list[OtelResourceSpans]


def encoding_of(content_type: str | None) -> Encoding:
    kind = (content_type or "").lower()
    if PROTOBUF in kind:
        return "protobuf"
    if JSON in kind:
        return "json"
    raise OtlpRequestError(f"Invalid content type {content_type or '(none)'!r}: expected {PROTOBUF} or {JSON}")


def decompress(body: bytes, content_encoding: str | None, limit: int = MAX_OTLP_BODY_BYTES) -> bytes:
    coding = (content_encoding or "").strip().lower()
    if coding in ("", "identity"):
        return body
    if coding != "gzip":
        raise OtlpRequestError(f"Unsupported Content-Encoding {content_encoding!r}: send gzip or none")
    inflater = zlib.decompressobj(wbits=31)  # gzip header and trailer
    try:
        data = inflater.decompress(body, limit + 1)
        complete = inflater.eof
    except zlib.error as exc:
        raise OtlpRequestError(f"Failed to decompress request body: {exc}") from exc
    if len(data) > limit:
        raise OtlpTooLargeError(f"Decompressed body exceeded the {limit // (1024 * 1024)} MiB limit")
    if not complete:
        raise OtlpRequestError("Failed to decompress request body: truncated gzip stream")
    return data


def _hex_to_base64(value: Any, hex_length: int) -> Any:
    if isinstance(value, str) and len(value) == hex_length:
        try:
            return base64.b64encode(bytes.fromhex(value)).decode()
        except ValueError:
            return value
    return value


_ID_FIELDS: Final = (("traceId", 32), ("spanId", 16), ("parentSpanId", 16), ("trace_id", 32), ("span_id", 16),
                     ("parent_span_id", 16))


def _ids_to_base64(document: dict[str, Any]) -> None:
    """OTLP/JSON hex ids → the base64 that protobuf's JSON mapping expects (spans and their links)."""
    for resource_spans in _items(document, "resourceSpans", "resource_spans"):
        for scope_spans in _items(resource_spans, "scopeSpans", "scope_spans"):
            for span in _items(scope_spans, "spans"):
                for carrier in (span, *_items(span, "links")):
                    for key, length in _ID_FIELDS:
                        if key in carrier:
                            carrier[key] = _hex_to_base64(carrier[key], length)


def _items(container: Any, *keys: str) -> list[Any]:
    if not isinstance(container, dict):
        return []
    for key in keys:
        value = container.get(key)
        if isinstance(value, list):
            return [item for item in value if isinstance(item, dict)]
    return []


def parse(body: bytes, encoding: Encoding) -> ExportTraceServiceRequest:
    message = ExportTraceServiceRequest()
    if encoding == "protobuf":
        try:
            message.ParseFromString(body)
        except DecodeError as exc:
            raise OtlpRequestError(f"Failed to parse OTel Protobuf Trace: {exc}") from exc
        return message
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise OtlpRequestError(f"Failed to parse OTel JSON Trace: {exc}") from exc
    if not isinstance(document, dict):
        raise OtlpRequestError("Failed to parse OTel JSON Trace: expected an object with resourceSpans")
    _ids_to_base64(document)
    try:
        json_format.ParseDict(document, message, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
        raise OtlpRequestError(f"Failed to parse OTel JSON Trace: {exc}") from exc
    return message


def _value(value: AnyValue, kind: str | None) -> Any:
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        number = value.double_value
        return number if math.isfinite(number) else str(number)
    if kind == "array_value":
        return [_value(item, item.WhichOneof("value")) for item in value.array_value.values]
    if kind is None:
        return None
    # kvlist and bytes: the JSON text of the AnyValue, as Langfuse stores it
    return json.dumps(json_format.MessageToDict(value), separators=(",", ":"), ensure_ascii=False)


def _attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        value = pair.value
        kind = value.WhichOneof("value")
        out[pair.key] = value.string_value if kind == "string_value" else _value(value, kind)
    return out


def _span(span: Span) -> OtelSpan:
    plain: OtelSpan = {
        "traceId": span.trace_id.hex(), "spanId": span.span_id.hex(), "parentSpanId": span.parent_span_id.hex(),
        "name": span.name, "kind": span.kind, "startTimeUnixNano": span.start_time_unix_nano,
        "endTimeUnixNano": span.end_time_unix_nano, "attributes": _attributes(span.attributes),
        "status": {"code": span.status.code, "message": span.status.message},
    }
    if span.events:
        events: list[OtelEvent] = [{"name": e.name, "timeUnixNano": e.time_unix_nano,
                                    "attributes": _attributes(e.attributes)} for e in span.events]
        plain["events"] = events
    return plain


def _resource_spans(resource_spans: ResourceSpans) -> OtelResourceSpans:
    scopes: list[OtelScopeSpans] = []
    for scope_spans in resource_spans.scope_spans:
        scope = scope_spans.scope
        scopes.append({
            "scope": {"name": scope.name, "version": scope.version, "attributes": _attributes(scope.attributes)},
            "spans": [_span(span) for span in scope_spans.spans],
        })
    return {"resource": _attributes(resource_spans.resource.attributes), "scopeSpans": scopes}


def decode(body: bytes, *, content_type: str | None, content_encoding: str | None) -> DecodedRequest:
    encoding = encoding_of(content_type)
    message = parse(decompress(body, content_encoding), encoding)
    return DecodedRequest(encoding, [_resource_spans(rs) for rs in message.resource_spans])


def encode_response(encoding: Encoding, rejected_spans: int, error_message: str) -> tuple[bytes, str]:
    """The `ExportTraceServiceResponse` body and its content type; `partial_success` only when needed."""
    response = ExportTraceServiceResponse()
    if rejected_spans or error_message:
        response.partial_success.CopyFrom(
            ExportTracePartialSuccess(rejected_spans=rejected_spans, error_message=error_message))
    if encoding == "protobuf":
        return response.SerializeToString(), PROTOBUF
    return json.dumps(json_format.MessageToDict(response), separators=(",", ":")).encode(), JSON

