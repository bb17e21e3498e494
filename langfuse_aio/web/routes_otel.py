"""POST /api/public/otel/v1/traces: OTLP/HTTP spans in, the same durable path as ingestion events out.

Basic auth (a project key), then the body: at most 16 MiB on the wire and decompressed, protobuf or
OTLP/JSON, gzip or not, chunked or not. Spans become validated ingestion events
(`langfuse_aio.domain.otel`; decoded and converted in a child process, web/otlp_decoding.py), stored
and queued by the `IngestionProducer` like any ingestion batch,
and the answer is OTLP's: 200 with an `ExportTraceServiceResponse` in the request's encoding, with
`partial_success` when some spans were rejected. Bad input is a 400 with a message; a store failure
is a 5xx, so the exporter retries.
"""

from __future__ import annotations

import time

import structlog
from quart import Blueprint, Response, request
from werkzeug.exceptions import RequestEntityTooLarge

from langfuse_aio.runtime.child_pool import ChildPoolUnavailable
from langfuse_aio.web.auth import authenticate, resources
from langfuse_aio.web.otlp import MAX_OTLP_BODY_BYTES, OtlpRequestError, OtlpTooLargeError, encode_response
from langfuse_aio.web.otlp_decoding import PreparedExport, prepare_export
from langfuse_aio.web.routes_ingestion import sdk_header, submit_encoded

bp = Blueprint("otel", __name__)
log = structlog.get_logger(__name__)

MAX_INGESTION_VERSION = 4
_TOO_LARGE = f"Body exceeded the {MAX_OTLP_BODY_BYTES // (1024 * 1024)} MiB limit"


def _check_ingestion_version() -> None:
    """`x-langfuse-ingestion-version` (or the underscore form), when sent, must be an integer ≤ 4."""
    value = sdk_header("ingestion-version")
    if value is None:
        return
    try:
        ok = int(value.strip()) <= MAX_INGESTION_VERSION
    except ValueError:
        ok = False
    if not ok:
        raise OtlpRequestError(
            f'Unsupported x-langfuse-ingestion-version: "{value}". Maximum supported: "{MAX_INGESTION_VERSION}".')


async def _read_body() -> bytes:
    if request.content_length is not None and request.content_length > MAX_OTLP_BODY_BYTES:
        raise OtlpTooLargeError(_TOO_LARGE)
    try:
        data = await request.get_data(cache=False, as_text=False)
    except RequestEntityTooLarge as exc:
        raise OtlpTooLargeError(_TOO_LARGE) from exc
    if isinstance(data, str):  # never with as_text=False; keeps the type exact
        data = data.encode()
    if len(data) > MAX_OTLP_BODY_BYTES:
        raise OtlpTooLargeError(_TOO_LARGE)
    return data


@bp.post("/api/public/otel/v1/traces")
async def export_traces() -> Response:
    scope = await authenticate()
    _check_ingestion_version()
    prepared = await _prepare(await _read_body())
    await submit_encoded(scope.project_id, prepared.events_json, prepared.entities)
    message = prepared.error_message
    if prepared.rejected_spans or message:
        log.info("otel_spans_rejected", project_id=scope.project_id, spans=prepared.spans,
                 rejected=prepared.rejected_spans, reason=message)
    body, content_type = encode_response(prepared.encoding, prepared.rejected_spans, message)
    return Response(body, status=200, content_type=content_type)


async def _prepare(body: bytes) -> PreparedExport:
    args = (body, request.headers.get("Content-Type"), request.headers.get("Content-Encoding"),
            time.time_ns() // 1_000_000)
    pool = resources().otlp_decoder
    if pool.processes == 0:
        return prepare_export(*args)
    try:
        return await pool.run(prepare_export, *args)
    except ChildPoolUnavailable as exc:  # the request broke two children: never retry it on our own loop
        log.error("otlp_decode_crashed", error=str(exc), bytes=len(body))
        raise OtlpRequestError("Failed to parse OTel request: the decoder crashed on it") from exc
