"""Seeding for scripts/bench/read_api.py: one project's traces, observations and scores, generated in ClickHouse.

Rows are made server-side by `INSERT INTO t SELECT ... FROM numbers(start, n)`, one chunk at a time;
every value (project id, name lists, prices) is a bound parameter. Row k of a table is a pure
function of k, so the benchmark knows what exists without reading it back:

- trace `trace-{t}` for t in [0, traces): timestamp spread evenly over `days` ending now, one of
  NAMES, `user-{0..999}` (5 % without a user), `session-{t // 4}` (10 % without), 0-2 TAGS, metadata;
- observations `obs-{6t+k}`, k = 0..5: SPAN root, GENERATION, SPAN, GENERATION, EVENT, GENERATION,
  children of the root, starting at the trace's timestamp + 300 ms·k; generations carry one of
  MODELS with usage_details, cost_details and total_cost from its price;
- scores `score-{s}` on trace 2s // 3 (so 1.5 per trace): NUMERIC `quality`, BOOLEAN `is_correct`
  (on the trace's first generation), CATEGORICAL `sentiment`;
- Postgres `trace_sessions` rows `session-{s}` (created at trace 4s's timestamp), as the worker upserts them.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from langfuse_aio.storage.clickhouse.base import ClickHouse

NAMES = [f"{verb}-{noun}" for verb in ("chat", "search", "summarize", "classify", "extract")
         for noun in ("request", "pipeline", "job", "task")]  # 20
TAGS = ["production", "staging", "rag", "agent", "eval", "beta"]
MODELS = ["gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet-20241022", "gpt-3.5-turbo", "gpt-4-turbo"]
INPUT_PRICE = [2.5e-6, 0.15e-6, 3e-6, 0.5e-6, 10e-6]  # USD per token, MODELS order
OUTPUT_PRICE = [10e-6, 0.6e-6, 15e-6, 1.5e-6, 30e-6]
USERS = 1000
OBSERVATIONS_PER_TRACE = 6
DAY_MS = 86_400_000

_TRACE_MS = "toInt64({start_ms:Int64} + intDiv(toInt64(t) * {span_ms:Int64}, {traces:Int64}))"

TRACES_SQL = """
INSERT INTO traces (id, timestamp, name, user_id, metadata, release, version, project_id, environment, public,
                    bookmarked, tags, input, output, session_id, created_at, updated_at, event_ts, is_deleted)
SELECT concat('trace-', toString(t)), ts, {names:Array(String)}[1 + h % 20],
       if(h % 20 = 0, NULL, concat('user-', toString(cityHash64(t, 'user') % 1000))),
       map('region', ['eu-west-1', 'us-east-1', 'ap-south-1'][1 + h % 3],
           'tenant', concat('tenant-', toString(h % 50))),
       concat('release-', toString(1 + h % 5)), 'v1', {project_id:String}, 'default', false, t % 200 = 0,
       arraySlice({tags:Array(String)}, 1 + cityHash64(t, 'tag') % 6, cityHash64(t, 'tags') % 3),
       concat('{"messages":[{"role":"user","content":"Question ', toString(t),
              ': how do I configure the retrieval pipeline for tenant ', toString(h % 50), '?"}]}'),
       concat('{"role":"assistant","content":"', repeat('Here is the answer. ', 1 + h % 20), '"}'),
       if(t % 10 = 9, NULL, concat('session-', toString(intDiv(t, 4)))), ts, ts, ts, 0
FROM (SELECT number AS t, cityHash64(number) AS h, fromUnixTimestamp64Milli(""" + _TRACE_MS + """) AS ts
      FROM numbers({first:UInt64}, {count:UInt64}))
"""

OBSERVATIONS_SQL = """
INSERT INTO observations (id, trace_id, project_id, environment, type, parent_observation_id, start_time, end_time,
    name, metadata, level, status_message, version, input, output, provided_model_name, internal_model_id,
    model_parameters, provided_usage_details, usage_details, provided_cost_details, cost_details, total_cost,
    completion_start_time, prompt_id, prompt_name, prompt_version, created_at, updated_at, event_ts, is_deleted)
SELECT concat('obs-', toString(n)), concat('trace-', toString(t)), {project_id:String}, 'default', type,
       if(k = 0, NULL, concat('obs-', toString(t * 6))), start,
       start + toIntervalMillisecond(multiIf(k = 0, 1800 + h % 6000, type = 'EVENT', 0, 100 + h % 1500)),
       multiIf(k = 0, 'handle-request', type = 'GENERATION', concat('llm-call-', toString(k)),
               type = 'SPAN', 'retrieve-documents', 'cache-lookup'),
       map('step', toString(k)), multiIf(h % 100 = 0, 'ERROR', h % 100 < 4, 'WARNING', 'DEFAULT'),
       if(h % 100 = 0, 'upstream timeout', NULL), NULL,
       concat('{"messages":[{"role":"system","content":"You are helpful."},{"role":"user","content":"step ',
              toString(k), ' of trace ', toString(t), '"}]}'),
       if(type = 'EVENT', NULL, concat('{"content":"', repeat('result ', 1 + h % 30), '"}')),
       if(gen, model, NULL), NULL, if(gen, '{"temperature":0.7,"max_tokens":1024}', NULL),
       usage, usage, costs, costs, if(gen, cost_total, NULL),
       if(gen, start + toIntervalMillisecond(80 + h % 400), NULL), NULL, NULL, NULL, start, start, start, 0
FROM (
    SELECT number AS n, intDiv(number, 6) AS t, number % 6 AS k, cityHash64(number) AS h,
           ['SPAN', 'GENERATION', 'SPAN', 'GENERATION', 'EVENT', 'GENERATION'][k + 1] AS type,
           type = 'GENERATION' AS gen,
           fromUnixTimestamp64Milli(""" + _TRACE_MS + """ + 300 * k) AS start,
           1 + h % 5 AS m, {models:Array(String)}[m] AS model,
           toUInt64(if(gen, 100 + h % 3000, 0)) AS tokens_in,
           toUInt64(if(gen, 20 + cityHash64(number, 'out') % 800, 0)) AS tokens_out,
           toDecimal64(tokens_in * {input_price:Array(Float64)}[m], 12) AS cost_in,
           toDecimal64(tokens_out * {output_price:Array(Float64)}[m], 12) AS cost_out,
           cost_in + cost_out AS cost_total,
           CAST(if(gen, map('input', tokens_in, 'output', tokens_out, 'total', tokens_in + tokens_out), map()),
                'Map(LowCardinality(String), UInt64)') AS usage,
           CAST(if(gen, map('input', cost_in, 'output', cost_out, 'total', cost_total), map()),
                'Map(LowCardinality(String), Decimal64(12))') AS costs
    FROM numbers({first:UInt64}, {count:UInt64}))
"""

SCORES_SQL = """
INSERT INTO scores (id, timestamp, project_id, environment, trace_id, session_id, observation_id, name, value,
                    source, comment, metadata, author_user_id, config_id, data_type, string_value, queue_id,
                    created_at, updated_at, event_ts, is_deleted)
SELECT concat('score-', toString(s)), ts, {project_id:String}, 'default', concat('trace-', toString(t)), NULL,
       if(kind = 1, concat('obs-', toString(t * 6 + 1)), NULL),
       ['quality', 'is_correct', 'sentiment'][kind + 1],
       multiIf(kind = 0, (h % 1000) / 1000, kind = 1, toFloat64(h % 2), toFloat64(h % 3)),
       ['EVAL', 'API', 'ANNOTATION'][kind + 1], if(h % 5 = 0, 'checked by reviewer', NULL), map(),
       if(kind = 2, concat('reviewer-', toString(h % 10)), NULL), NULL,
       ['NUMERIC', 'BOOLEAN', 'CATEGORICAL'][kind + 1],
       multiIf(kind = 0, NULL, kind = 1, if(h % 2 = 1, 'True', 'False'),
               ['positive', 'neutral', 'negative'][1 + h % 3]),
       NULL, ts, ts, ts, 0
FROM (SELECT number AS s, intDiv(number * 2, 3) AS t, number % 3 AS kind, cityHash64(number) AS h,
             fromUnixTimestamp64Milli(""" + _TRACE_MS + """ + 10000) AS ts
      FROM numbers({first:UInt64}, {count:UInt64}))
"""


SESSIONS_SQL = """
INSERT INTO trace_sessions (id, project_id, created_at, updated_at)
SELECT 'session-' || s, %(project_id)s, ts, ts
FROM generate_series(0::bigint, %(count)s::bigint - 1) AS s,
     LATERAL (SELECT to_timestamp((%(start_ms)s::bigint + 4 * s * %(span_ms)s::bigint / %(traces)s::bigint) / 1000.0)
                     AT TIME ZONE 'UTC' AS ts) AS t
ON CONFLICT (id, project_id) DO NOTHING
"""


@dataclass(frozen=True)
class Plan:
    traces: int
    days: int
    end_ms: int

    @property
    def start_ms(self) -> int:
        return self.end_ms - self.days * DAY_MS

    @property
    def observations(self) -> int:
        return self.traces * OBSERVATIONS_PER_TRACE

    @property
    def scores(self) -> int:
        return self.traces * 3 // 2

    @property
    def sessions(self) -> int:
        return (self.traces + 3) // 4

    def trace_ms(self, t: int) -> int:
        return self.start_ms + t * self.days * DAY_MS // self.traces


def progress(label: str, done: int, total: int, started: float) -> None:
    width = 30
    filled = width * done // max(total, 1)
    rate = done / max(time.monotonic() - started, 1e-9)
    end = "\n" if done >= total else ""
    print(f"\r  {label:<12} [{'#' * filled}{'.' * (width - filled)}] {done:>10,}/{total:,} {rate:>10,.0f} rows/s",
          end=end, file=sys.stderr, flush=True)


async def seed(ch: ClickHouse, project_id: str, plan: Plan, chunk: int) -> dict[str, tuple[int, float]]:
    """Insert every row; return table -> (rows, seconds)."""
    common: dict[str, Any] = {"project_id": project_id, "start_ms": plan.start_ms,
                              "span_ms": plan.days * DAY_MS, "traces": plan.traces}
    tables = (
        ("traces", TRACES_SQL, plan.traces, {"names": NAMES, "tags": TAGS}),
        ("observations", OBSERVATIONS_SQL, plan.observations,
         {"models": MODELS, "input_price": INPUT_PRICE, "output_price": OUTPUT_PRICE}),
        ("scores", SCORES_SQL, plan.scores, {}),
    )
    timings: dict[str, tuple[int, float]] = {}
    for table, sql, total, extra in tables:
        started = time.monotonic()
        for first in range(0, total, chunk):
            count = min(chunk, total - first)
            await ch.command(sql, {**common, **extra, "first": first, "count": count})
            progress(table, first + count, total, started)
        timings[table] = (total, time.monotonic() - started)
    return timings


async def seed_sessions(conn: AsyncConnection[Any], project_id: str, plan: Plan) -> tuple[int, float]:
    started = time.monotonic()
    await conn.execute(SESSIONS_SQL, {"project_id": project_id, "count": plan.sessions, "start_ms": plan.start_ms,
                                      "span_ms": plan.days * DAY_MS, "traces": plan.traces})
    return plan.sessions, time.monotonic() - started


async def parts_and_merges(ch: ClickHouse) -> tuple[dict[str, int], int]:
    parts = await ch.query(
        "SELECT table, count() AS parts FROM system.parts WHERE database = currentDatabase() AND active "
        "AND table IN ('traces', 'observations', 'scores') GROUP BY table ORDER BY table")
    merges = await ch.query("SELECT count() AS n FROM system.merges WHERE database = currentDatabase()")
    return {str(r["table"]): int(r["parts"]) for r in parts}, int(merges[0]["n"])
