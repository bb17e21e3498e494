"""OTLP request bodies for tests: the recorded SDK samples as real `ExportTraceServiceRequest`s."""

from __future__ import annotations

import base64
import copy
import gzip
import json
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "sdk-samples"
OTEL_PATH = "/api/public/otel/v1/traces"


def sample_body(name: str) -> dict[str, Any]:
    """The OTLP/JSON body of a recorded sample (ids as hex, as OTLP/JSON sends them)."""
    body: dict[str, Any] = json.loads((SAMPLES / name).read_text())["body"]
    return body


def to_message(otlp_json: dict[str, Any]) -> ExportTraceServiceRequest:
    """OTLP/JSON (hex ids) → the protobuf message (raw id bytes), via protobuf's own JSON parser."""
    document = copy.deepcopy(otlp_json)
    for resource_spans in document["resourceSpans"]:
        for scope_spans in resource_spans["scopeSpans"]:
            for span in scope_spans["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if span.get(key):
                        span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
    return json_format.ParseDict(document, ExportTraceServiceRequest())


def protobuf_body(otlp_json: dict[str, Any], *, compress: bool = True) -> bytes:
    raw = to_message(otlp_json).SerializeToString()
    return gzip.compress(raw) if compress else raw


def protobuf_headers(auth: dict[str, str], *, compress: bool = True) -> dict[str, str]:
    headers = {**auth, "Content-Type": "application/x-protobuf", "x-langfuse-sdk-name": "python",
               "x-langfuse-ingestion-version": "4"}
    return headers | ({"Content-Encoding": "gzip"} if compress else {})
