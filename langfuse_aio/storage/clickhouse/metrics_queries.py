"""Daily metrics (`GET /api/public/metrics/daily`): traces per day, observation figures per day and model.

Every filter applies to the trace (latest version). Traces count on the trace's UTC day;
observations on their own start day, and only those whose trace passes the filters.

Deduplication uses `FINAL` (one row per sorting key, tombstoned keys dropped), which is exact for
rows this server writes because the worker tombstones a moved sorting key (see `trace_queries`,
also on why not `do_not_merge_across_partitions_select_final`).
`LIMIT 1 BY id` over every version would be exact for any writer, but it sorts every row of the
project by `event_ts`: on 6M observations that is seconds, against a few hundred milliseconds here.
Without any trace filter every live observation counts: building the set of all live trace ids
would cost more than the aggregate itself, and the set differs from "all" only by observations
whose trace is deleted (Langfuse's trace deletion removes them too) or not ingested (yet).
With `fromTimestamp`, observations are read from one hour before it (Langfuse's window between a
trace and its observations), which skips older days through the sorting key.

Cost. Uncached, the observation aggregate reads every observation of the range (6M rows: ~2 s of
CPU on a busy 2-core machine). Without a trace filter every figure is a function of one day's rows
(the sort keys start with the day, so FINAL keeps each row's versions within its day):
`daily_figures_cached` keeps each day's figures in a `DayCache` while that day's parts are
unchanged, and recomputes only the days whose parts changed (under live ingestion: today) with
queries restricted to those days. With a trace filter the route keeps the whole result in the
`ReadCache` while both tables are unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from langfuse_aio.domain.trace_filters import TraceFilter
from langfuse_aio.domain.trace_views import ModelDay
from langfuse_aio.storage.clickhouse.base import ClickHouse, Row
from langfuse_aio.storage.clickhouse.day_cache import DayCache
from langfuse_aio.storage.clickhouse.trace_queries import TRACE_WINDOW, predicate

_TRACES = "FROM traces FINAL WHERE project_id = {project_id:String} AND is_deleted = 0"
_MODEL_DAY_COLUMNS = (
    "SELECT toDate(start_time) AS day, provided_model_name AS model, count() AS observations,"
    " uniqExact(trace_id) AS traces, sum(usage_details['input']) AS input_usage,"
    " sum(usage_details['output']) AS output_usage, sum(usage_details['total']) AS total_usage,"
    " sum(ifNull(total_cost, 0)) AS cost"
    " FROM observations FINAL WHERE project_id = {project_id:String} AND is_deleted = 0"
)


@dataclass(frozen=True, slots=True)
class DayFigures:
    traces: int = 0
    models: tuple[ModelDay, ...] = ()


MetricsCache = DayCache[DayFigures]


async def daily_figures(ch: ClickHouse, project_id: str, flt: TraceFilter) -> tuple[dict[date, int], list[ModelDay]]:
    """(traces per trace day, observation figures per observation day and model name)."""
    p = predicate(project_id, flt)
    params = dict(p.params)
    lower = ""
    if flt.from_timestamp is not None:
        lower = " AND start_time >= {observations_from:DateTime64(3)}"
        params["observations_from"] = flt.from_timestamp - TRACE_WINDOW
    trace_days, model_days = await asyncio.gather(
        ch.query(f"SELECT toDate(timestamp) AS day, count() AS n {_TRACES}{p.sql} GROUP BY day", params),
        ch.query(
            _MODEL_DAY_COLUMNS + lower
            + (f" AND trace_id IN (SELECT id {_TRACES}{p.sql})" if p.conditions else "")
            + " GROUP BY day, model",
            params,
        ),
    )
    return {r["day"]: int(r["n"]) for r in trace_days}, [_model_day(r) for r in model_days]


def _model_day(r: Row) -> ModelDay:
    return ModelDay(
        day=r["day"],
        model=r["model"],
        count_observations=int(r["observations"]),
        count_traces=int(r["traces"]),
        input_usage=int(r["input_usage"]),
        output_usage=int(r["output_usage"]),
        total_usage=int(r["total_usage"]),
        total_cost=Decimal(r["cost"] or 0),
    )


async def figures_of_days(ch: ClickHouse, project_id: str, days: list[date]) -> dict[date, DayFigures]:
    """Unfiltered figures of the given days only (both queries skip every other day by the sort key)."""
    params: Mapping[str, Any] = {"project_id": project_id, "days": days}
    trace_days, model_days = await asyncio.gather(
        ch.query(
            f"SELECT toDate(timestamp) AS day, count() AS n {_TRACES}"
            " AND toDate(timestamp) IN {days:Array(Date)} GROUP BY day",
            params,
        ),
        ch.query(_MODEL_DAY_COLUMNS + " AND toDate(start_time) IN {days:Array(Date)} GROUP BY day, model", params),
    )
    models: dict[date, list[ModelDay]] = {}
    for r in model_days:
        models.setdefault(r["day"], []).append(_model_day(r))
    counts = {r["day"]: int(r["n"]) for r in trace_days}
    return {day: DayFigures(counts.get(day, 0), tuple(models.get(day, ()))) for day in set(counts) | set(models)}


async def daily_figures_cached(
    ch: ClickHouse, project_id: str, cache: MetricsCache
) -> tuple[dict[date, int], list[ModelDay]]:
    """`daily_figures` without a filter, from per-day figures that `cache` keeps while each day's
    parts of traces and observations are unchanged (see `day_cache`)."""
    by_day = await cache.per_day(
        ch, ("traces", "observations"), ("metrics-daily", project_id),
        lambda days: figures_of_days(ch, project_id, days), empty=DayFigures(),
    )
    trace_days = {day: f.traces for day, f in by_day.items() if f.traces}
    return trace_days, [m for f in by_day.values() for m in f.models]
