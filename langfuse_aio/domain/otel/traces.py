"""One `trace-create` per trace and request: the trace bodies of a request's spans folded together; pure.

Langfuse emits one trace event per span that is a root or carries trace attributes, and the SDKs put
the trace attributes on *every* span, so a 100-span request would hold ~100 trace events for a few
traces. Folding them here with the worker's own merge rules (ingestion spec §3.4, `domain.merge`)
gives the row the merge would give, for a fraction of the storage and merge work:
- `timestamp` is the earliest one, and so is an environment that is not "default" (both immutable);
- later spans (by start time, then request order) win for scalar fields when they set them;
- metadata maps merge as `merge_metadata` does, tags are a union;
- input/output: the last truthy value, else the last one set (the merge's `_pick_io`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langfuse_aio.domain.metadata import js_truthy, merge_metadata, normalise_metadata
from langfuse_aio.domain.validation import DEFAULT_ENVIRONMENT, normalize_environment


def fold_trace_bodies(bodies: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Fold the trace-create bodies of one trace (each with `timestamp`) into one body."""
    ordered = sorted(bodies, key=lambda body: body["timestamp"])  # stable: request order breaks ties
    if len(ordered) == 1:
        return dict(ordered[0])
    out: dict[str, Any] = {"id": ordered[0]["id"], "timestamp": ordered[0]["timestamp"]}
    metadata: dict[str, str] = {}
    tags: dict[str, None] = {}
    previous: dict[str, Any] | None = None
    for body in ordered:
        rest = {key: value for key, value in body.items() if key != "timestamp"}
        if rest == previous:  # folding the same values again changes nothing (spans share trace attributes)
            continue
        previous = rest
        for key, value in rest.items():
            if key in ("id", "timestamp") or value is None:
                continue
            if key == "environment":
                if normalize_environment(out.get("environment")) == DEFAULT_ENVIRONMENT:
                    out["environment"] = value
            elif key == "metadata":
                metadata = merge_metadata(metadata, normalise_metadata(value))
            elif key == "tags":
                tags.update(dict.fromkeys(value))
            elif key in ("input", "output"):
                if js_truthy(value) or not js_truthy(out.get(key)):
                    out[key] = value
            else:
                out[key] = value
    if metadata:
        out["metadata"] = metadata
    if tags:
        out["tags"] = list(tags)
    return out
