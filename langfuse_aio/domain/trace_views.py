"""Trace list items, sessions and daily metrics as the public API shapes them; pure.

A trace list item (`TraceWithDetails`) is the trace's fields plus figures over its observations
and scores, which the storage layer aggregates per trace (`TraceSummary`). Latency and cost follow
`api_views` (the single trace), so a trace shows the same figures in the list and on its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from langfuse_aio.domain.api_views import format_datetime, trace_html_path, trace_to_api_base

Row = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class TraceSummary:
    """A trace's observations and scores, reduced: what the list needs of them."""

    observation_ids: tuple[str, ...] = ()
    score_ids: tuple[str, ...] = ()
    times: tuple[datetime, ...] = ()  # earliest/latest start and end times (any subset)
    total_cost: Decimal = field(default_factory=Decimal)


def latency_seconds(times: Iterable[datetime | None]) -> float:
    """Latest start or end minus earliest start or end; 0 without any (as `trace_latency_seconds`)."""
    known = [t for t in times if t is not None]
    return (max(known) - min(known)).total_seconds() if known else 0.0


def trace_with_details(row: Row, summary: TraceSummary | None, *, base_path: str = "") -> dict[str, Any]:
    summary = summary or TraceSummary()
    return {
        **trace_to_api_base(row),
        "htmlPath": trace_html_path(row["project_id"], row["id"], base_path=base_path),
        "latency": latency_seconds(summary.times),
        "totalCost": float(summary.total_cost),
        "observations": list(summary.observation_ids),
        "scores": list(summary.score_ids),
    }


def session_to_api(row: Row, traces: Sequence[Row] | None = None) -> dict[str, Any]:
    """A `trace_sessions` row as the API's Session (with `traces` as Trace objects when given).

    Sessions carry no environment of their own here; `environment` is "default", the value
    Langfuse gives sessions without one."""
    body: dict[str, Any] = {
        "id": row["id"],
        "createdAt": format_datetime(row["created_at"]),
        "projectId": row["project_id"],
        "environment": row.get("environment") or "default",
    }
    if traces is not None:
        body["traces"] = [trace_to_api_base(trace) for trace in traces]
    return body


# --- daily metrics --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelDay:
    """Observation figures of one UTC day and one model name (None: no model)."""

    day: date
    model: str | None
    count_observations: int
    count_traces: int
    input_usage: int
    output_usage: int
    total_usage: int
    total_cost: Decimal


def daily_metrics(trace_days: Mapping[date, int], model_days: Iterable[ModelDay]) -> list[dict[str, Any]]:
    """One entry per day that has traces or observations, newest first.

    `trace_days` counts traces by the trace's day; observation figures are by the observation's
    day. A day with traces and no observations reports its own date, zero observations and no
    usage (Langfuse v3.0.0 answered 1970-01-01 there, an artefact of its outer join)."""
    by_day: dict[date, list[ModelDay]] = {}
    for entry in model_days:
        by_day.setdefault(entry.day, []).append(entry)
    days = sorted(set(trace_days) | set(by_day), reverse=True)
    data = []
    for day in days:
        entries = sorted(by_day.get(day, []), key=lambda e: (e.model is None, e.model or ""))
        data.append({
            "date": day.isoformat(),
            "countTraces": int(trace_days.get(day, 0)),
            "countObservations": sum(e.count_observations for e in entries),
            "totalCost": float(sum((e.total_cost for e in entries), Decimal(0))),
            "usage": [
                {
                    "model": e.model,
                    "inputUsage": e.input_usage,
                    "outputUsage": e.output_usage,
                    "totalUsage": e.total_usage,
                    "countObservations": e.count_observations,
                    "countTraces": e.count_traces,
                    "totalCost": float(e.total_cost),
                }
                for e in entries
            ],
        })
    return data
