"""The recorded OTLP/JSON sample of @langfuse/otel 5.11.1 as plain spans (what the web layer decodes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from langfuse_aio.domain.otel import OtelResourceSpans

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "sdk-samples"


def _value(value: dict[str, Any]) -> Any:
    if "arrayValue" in value:
        return [_value(v) for v in value["arrayValue"].get("values", [])]
    if "intValue" in value:
        return int(value["intValue"])
    return next(iter(value.values()))


def _attributes(pairs: list[dict[str, Any]] | None) -> dict[str, Any]:
    return {pair["key"]: _value(pair["value"]) for pair in pairs or []}


def js_sample_spans() -> list[OtelResourceSpans]:
    body = json.loads((SAMPLES / "js-otel-5.11.1-otlp-traces.json").read_text())["body"]
    out: list[OtelResourceSpans] = []
    for rs in body["resourceSpans"]:
        out.append({"resource": _attributes(rs["resource"]["attributes"]), "scopeSpans": [
            {"scope": {"name": ss["scope"]["name"], "version": ss["scope"].get("version", ""), "attributes": {}},
             "spans": [{"traceId": s["traceId"], "spanId": s["spanId"], "parentSpanId": s.get("parentSpanId", ""),
                        "name": s["name"], "kind": s["kind"], "startTimeUnixNano": int(s["startTimeUnixNano"]),
                        "endTimeUnixNano": int(s["endTimeUnixNano"]), "attributes": _attributes(s["attributes"]),
                        "status": {"code": 0, "message": ""}} for s in ss["spans"]]}
            for ss in rs["scopeSpans"]]})
    return out
