"""OTLP spans → validated Langfuse ingestion events (ingestion spec §6.3); pure.

Each span becomes one `<type>-create` observation event whose id is the span id, in the trace whose
id is the OTel trace id. A root span (no parent, or `langfuse.internal.as_root`) contributes the full
trace (name, I/O, user, session, tags, metadata…); a non-root span that carries trace-level attributes
contributes just those. The contributions to one trace are folded into one `trace-create` per request
with the merge's rules (`traces.fold_trace_bodies`). A trace of the request that nothing contributes to
gets one *shallow* `trace-create` `{id, timestamp, environment}`, so its row exists before the root
span arrives (Langfuse decides this with a Redis "seen in the last 10 minutes" key; here it is one
small event per trace and request, and the merge keeps the earliest timestamp).

Every event goes through the same validation as `POST /api/public/ingestion`. A span whose
observation event fails (or that has no trace or span id) is rejected and counted for OTLP's
`partial_success`; the other spans of the request are kept. A trace event that fails is reported in
the message but rejects no span.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from langfuse_aio.domain.events import EventError, ValidEvent, validate_event
from langfuse_aio.domain.otel import attributes as a
from langfuse_aio.domain.otel import genai
from langfuse_aio.domain.otel.io import extract_io, filtered_attributes
from langfuse_aio.domain.otel.spans import OtelResourceSpans, OtelScope, OtelSpan, ms_to_iso, span_times
from langfuse_aio.domain.otel.traces import fold_trace_bodies
from langfuse_aio.domain.otel.types import observation_type

_MAX_MESSAGES: Final = 10


@dataclass(frozen=True, slots=True)
class Conversion:
    events: list[ValidEvent]
    spans: int
    rejected_spans: int
    errors: list[str]

    def error_message(self) -> str:
        """Readable reasons for OTLP's `partial_success.error_message` (empty when all is well)."""
        shown = self.errors[:_MAX_MESSAGES]
        more = len(self.errors) - len(shown)
        return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")


def _without_nones(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if value is not None}


@dataclass(slots=True)
class _Context:
    """What every span of one scope shares."""

    resource: dict[str, Any]
    resource_trace_metadata: dict[str, Any]
    scope_name: str
    scope_metadata: dict[str, Any]
    langfuse_scope: bool


def _trace_body(span: OtelSpan, ctx: _Context, attrs: dict[str, Any], root: bool, start: str) -> dict[str, Any]:
    trace_metadata = a.metadata(attrs, "trace")
    if root:
        name = attrs.get(a.TRACE_NAME) or a.observation_name(span.get("name", ""), attrs)
        metadata = {**ctx.resource_trace_metadata, **trace_metadata, **a.metadata(attrs, "observation")}
        if not ctx.langfuse_scope:
            metadata["attributes"] = filtered_attributes(attrs)
        trace_input, trace_output = extract_io(attrs, span.get("events") or (), ctx.scope_name, trace=True)
    else:
        name = attrs.get(a.TRACE_NAME)
        metadata = {**ctx.resource_trace_metadata, **trace_metadata}
        trace_input, trace_output = attrs.get(a.TRACE_INPUT), attrs.get(a.TRACE_OUTPUT)
    metadata["resourceAttributes"] = ctx.resource
    metadata["scope"] = ctx.scope_metadata
    return _without_nones({
        "id": span["traceId"], "timestamp": start, "environment": a.environment(attrs, ctx.resource),
        "name": None if name is None else a.as_text(name), "metadata": metadata,
        "version": a.version(attrs, ctx.resource), "release": a.release(attrs, ctx.resource),
        "userId": a.user_id(attrs), "sessionId": a.session_id(attrs), "public": a.public(attrs),
        "tags": a.tags(attrs) or None, "input": trace_input, "output": trace_output,
    })


def _trace_signature(attrs: dict[str, Any]) -> list[tuple[str, Any]]:
    """The attributes a non-root span's trace body is made of (all but the observation's own)."""
    return [(key, value) for key, value in attrs.items()
            if not key.startswith("langfuse.observation.") or key.startswith(_TRACE_LEVEL_OBSERVATION_KEYS)]


_TRACE_LEVEL_OBSERVATION_KEYS: Final = "langfuse.observation.metadata.langfuse_"


def _prompt(attrs: dict[str, Any]) -> tuple[str | None, int | None]:
    name = attrs.get(a.OBSERVATION_PROMPT_NAME) or attrs.get("langfuse.prompt.name")
    version = attrs.get(a.OBSERVATION_PROMPT_VERSION) or attrs.get("langfuse.prompt.version")
    vercel = genai.json_object(attrs.get("ai.telemetry.metadata.langfusePrompt"))
    if name is None and vercel is not None:
        name, version = vercel.get("name"), vercel.get("version")
    if isinstance(version, str) and version.strip().isdigit():
        version = int(version)
    if not isinstance(name, str) or not name or type(version) is not int:
        return None, None
    return name, version


def _observation(span: OtelSpan, ctx: _Context, attrs: dict[str, Any], root: bool,
                 times: tuple[str, str]) -> tuple[str, dict[str, Any]]:
    start, end = times
    kind = observation_type(attrs, ctx.resource, {"name": ctx.scope_name, **ctx.scope_metadata})
    observation_input, observation_output = extract_io(attrs, span.get("events") or (), ctx.scope_name)
    metadata = {**ctx.resource_trace_metadata, **a.metadata(attrs, "observation")}
    if not ctx.langfuse_scope:
        metadata["attributes"] = filtered_attributes(attrs)
    metadata["resourceAttributes"] = ctx.resource
    metadata["scope"] = ctx.scope_metadata
    status = span.get("status") or {}
    body: dict[str, Any] = {
        "id": span["spanId"], "traceId": span["traceId"],
        "parentObservationId": None if root else span.get("parentSpanId") or None,
        "name": a.observation_name(span.get("name", ""), attrs), "startTime": start, "endTime": end,
        "environment": a.environment(attrs, ctx.resource),
        "completionStartTime": genai.completion_start_time(attrs, start), "metadata": metadata,
        "level": a.level(attrs, status.get("code", 0)),
        "statusMessage": a.status_message(attrs, status.get("message", "")),
        "version": a.version(attrs, ctx.resource),
        "modelParameters": genai.model_parameters(attrs, ctx.scope_name),
        "input": observation_input, "output": observation_output,
    }
    if not genai.carries_no_model(attrs):
        body["model"] = genai.model_name(attrs)
        body["usageDetails"] = genai.usage_details(attrs, ctx.scope_name)
        body["costDetails"] = genai.cost_details(attrs)
    if kind == "GENERATION":
        body["promptName"], body["promptVersion"] = _prompt(attrs)
    return f"{kind.lower()}-create", _without_nones(body)


def _contexts(resource_spans: Sequence[OtelResourceSpans]) -> Any:
    for resource_span in resource_spans:
        resource = resource_span.get("resource") or {}
        resource_trace_metadata = a.metadata(resource, "trace")
        for scope_spans in resource_span.get("scopeSpans") or ():
            scope: OtelScope = scope_spans.get("scope") or {}
            name = scope.get("name") or ""
            scope_metadata = {"name": name, "version": scope.get("version") or "",
                              "attributes": scope.get("attributes") or {}}
            ctx = _Context(resource, resource_trace_metadata, name, scope_metadata,
                           name.startswith(a.LANGFUSE_SCOPE_PREFIX))
            for span in scope_spans.get("spans") or ():
                yield ctx, span


class _Builder:
    """The events of one request, built span by span; trace bodies are collected and folded at the end."""

    def __init__(self, now_ms: int) -> None:
        self.now_ms, self.now_iso = now_ms, ms_to_iso(now_ms)
        self.events: list[ValidEvent] = []
        self.errors: list[str] = []
        self.spans = self.rejected = 0
        self.traces: dict[str, list[dict[str, Any]]] = {}  # trace id → its trace bodies (or one shallow body)
        self.full: set[str] = set()  # traces with a root or trace attributes in this request
        self.first_span: dict[str, str] = {}
        self.earliest: dict[str, str] = {}  # trace id → earliest start of a span with trace attributes
        self.last_update: dict[str, tuple[_Context, list[tuple[str, Any]], dict[str, Any]]] = {}

    def add(self, event_id: str, event_type: str, timestamp: str, body: dict[str, Any], what: str) -> bool:
        result = validate_event({"id": event_id, "type": event_type, "timestamp": timestamp, "body": body})
        if isinstance(result, ValidEvent):
            self.events.append(result)
            return True
        if isinstance(result, EventError):
            self.errors.append(f"{what}: {result.error}")
        return False

    def span(self, ctx: _Context, span: OtelSpan) -> None:
        self.spans += 1
        trace_id, span_id = span.get("traceId") or "", span.get("spanId") or ""
        if not trace_id or not span_id:
            self.rejected += 1
            self.errors.append(f"span {span.get('name', '')!r}: traceId and spanId are required")
            return
        attrs = span.get("attributes") or {}
        root = a.is_root(span.get("parentSpanId") or "", attrs)
        start, end = span_times(span.get("startTimeUnixNano") or 0, span.get("endTimeUnixNano") or 0, self.now_ms)
        if trace_id not in self.traces:
            self.traces[trace_id] = []
            self.first_span[trace_id] = span_id
        if root or a.has_trace_updates(attrs):
            self._trace_update(ctx, span, attrs, root, start)
        else:
            bodies = self.traces[trace_id]
            if trace_id not in self.full and (not bodies or start < bodies[0]["timestamp"]):
                bodies[:] = [{"id": trace_id, "timestamp": start, "environment": a.environment(attrs, ctx.resource)}]
        event_type, body = _observation(span, ctx, attrs, root, (start, end))
        if not self.add(f"otel-{span_id}", event_type, self.now_iso, body, f"span {span_id}"):
            self.rejected += 1

    def _trace_update(self, ctx: _Context, span: OtelSpan, attrs: dict[str, Any], root: bool, start: str) -> None:
        trace_id = span["traceId"]
        bodies = self.traces[trace_id]
        if trace_id not in self.full:
            self.full.add(trace_id)
            bodies.clear()  # drop the shallow one
        self.earliest[trace_id] = min(self.earliest.get(trace_id, start), start)
        if root:
            bodies.append(_trace_body(span, ctx, attrs, root, start))
            return
        # Spans of one trace mostly carry the same trace attributes: a body equal to the last one
        # folds to the same result, at the later of the two start times.
        signature = _trace_signature(attrs)
        known = self.last_update.get(trace_id)
        if known is not None and known[0] is ctx and known[1] == signature:
            known[2]["timestamp"] = max(known[2]["timestamp"], start)
            return
        body = _trace_body(span, ctx, attrs, root, start)
        bodies.append(body)
        self.last_update[trace_id] = (ctx, signature, body)

    def finish(self) -> Conversion:
        for trace_id, bodies in self.traces.items():
            if not bodies:
                continue
            trace = fold_trace_bodies(bodies)
            if trace_id in self.earliest:
                trace["timestamp"] = self.earliest[trace_id]
            self.add(f"otel-{trace_id}-{self.first_span[trace_id]}", "trace-create", trace["timestamp"], trace,
                     f"trace {trace_id}")
        return Conversion(self.events, self.spans, self.rejected, self.errors)


def convert_spans(resource_spans: Sequence[OtelResourceSpans], *, now_ms: int) -> Conversion:
    """The validated events for an export request; `now_ms` stamps observation envelopes and stands in
    for spans without any time.

    Envelope ids are derived from the spans (`otel-<spanId>`, and `otel-<traceId>-<first spanId>` for a
    trace), not random: an exporter that retries a request whose answer it lost writes the same
    per-entity event files again instead of adding copies, and no random id is drawn per event."""
    builder = _Builder(now_ms)
    for ctx, span in _contexts(resource_spans):
        builder.span(ctx, span)
    return builder.finish()
