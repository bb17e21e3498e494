"""OTLP/HTTP decoding (langfuse_aio.web.otlp): both encodings, ids, attribute values, limits, answers."""

from __future__ import annotations

import base64
import gzip
import json

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from langfuse_aio.web.otlp import OtlpRequestError, OtlpTooLargeError, decode, decompress, encode_response

TRACE, SPAN = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"


def otlp_json(span: dict[str, object]) -> bytes:
    return json.dumps({"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [
        {"scope": {"name": "s"}, "spans": [span]}]}]}).encode()


def only_span(body: bytes) -> dict[str, object]:
    decoded = decode(body, content_type="application/json; charset=utf-8", content_encoding=None)
    assert decoded.encoding == "json"
    (span,) = decoded.resource_spans[0]["scopeSpans"][0]["spans"]
    return dict(span)


def test_json_hex_ids_and_every_attribute_value_kind() -> None:
    span = only_span(otlp_json({
        "traceId": TRACE.upper(), "spanId": SPAN, "name": "n", "kind": 1, "startTimeUnixNano": "1795877364637255860",
        "attributes": [
            {"key": "s", "value": {"stringValue": "x"}}, {"key": "i", "value": {"intValue": "42"}},
            {"key": "d", "value": {"doubleValue": 0.5}}, {"key": "b", "value": {"boolValue": True}},
            {"key": "a", "value": {"arrayValue": {"values": [{"stringValue": "t1"}, {"intValue": 2}]}}},
            {"key": "kv", "value": {"kvlistValue": {"values": [{"key": "k", "value": {"stringValue": "v"}}]}}},
            {"key": "nan", "value": {"doubleValue": "NaN"}}, {"key": "empty", "value": {}},
        ],
    }))
    assert (span["traceId"], span["spanId"], span["parentSpanId"]) == (TRACE, SPAN, "")
    assert span["startTimeUnixNano"] == 1795877364637255860
    attributes = span["attributes"]
    assert attributes == {"s": "x", "i": 42, "d": 0.5, "b": True, "a": ["t1", 2],
                          "kv": '{"kvlistValue":{"values":[{"key":"k","value":{"stringValue":"v"}}]}}',
                          "nan": "nan", "empty": None}


def test_json_ids_sent_as_base64_still_decode() -> None:
    span = only_span(otlp_json({"traceId": base64.b64encode(bytes.fromhex(TRACE)).decode(),
                                "spanId": base64.b64encode(bytes.fromhex(SPAN)).decode()}))
    assert (span["traceId"], span["spanId"]) == (TRACE, SPAN)


def test_unknown_json_fields_are_ignored_and_wrong_shapes_rejected() -> None:
    assert only_span(otlp_json({"traceId": TRACE, "spanId": SPAN, "futureField": 1}))["spanId"] == SPAN
    with pytest.raises(OtlpRequestError, match="Failed to parse OTel JSON Trace"):
        only_span(otlp_json({"traceId": TRACE, "spanId": SPAN, "attributes": {"k": "v"}}))
    with pytest.raises(OtlpRequestError, match="Failed to parse OTel JSON Trace"):
        only_span(otlp_json({"traceId": "not-hex-and-not-base64!", "spanId": SPAN}))


def test_gzip_limits() -> None:
    assert decompress(gzip.compress(b"abc"), "GZIP") == b"abc"
    with pytest.raises(OtlpTooLargeError):
        decompress(gzip.compress(b"\0" * 1001), "gzip", limit=1000)
    with pytest.raises(OtlpRequestError, match="truncated"):
        decompress(gzip.compress(b"abc" * 100)[:-8], "gzip")


def test_answers_in_the_request_encoding() -> None:
    assert encode_response("protobuf", 0, "") == (b"", "application/x-protobuf")
    body, content_type = encode_response("protobuf", 2, "span x: bad")
    partial = ExportTraceServiceResponse.FromString(body).partial_success
    assert content_type == "application/x-protobuf" and (partial.rejected_spans, partial.error_message) == (
        2, "span x: bad")
    assert encode_response("json", 0, "") == (b"{}", "application/json")
    body, _ = encode_response("json", 1, "m")
    assert json.loads(body) == {"partialSuccess": {"rejectedSpans": "1", "errorMessage": "m"}}
