"""v2 → ClickHouse observations copy: rows/s of the background migration, against the engine's ceiling.

    .venv/bin/python scripts/bench/v2_migration.py [--rows 1000000] [--batch-size 5000,20000]
                                                   [--pg-url postgresql://postgres@127.0.0.1:5432/postgres]

1. Seeds `--rows` v2 observations (a third GENERATION with model, tokens, costs and parameters, the
   rest SPAN; JSON input/output of a few hundred bytes; metadata on half; the oldest 10 % share one
   created_at, as v2's 2023-11-10 migration left them) with COPY into a scratch database on the
   Postgres at `--pg-url` (default LANGFUSE_AIO_BENCH_PG_URL or the machine's 127.0.0.1:5432), made
   by our own Postgres migrations; dropped at the end.
2. Ceiling: the engine's raw insert rate in the same run: the same rows' JSONCompactEachRow bodies, built
   beforehand by the copy's SQL (untimed), inserted with the port's insert_formatted() in batches of
   the batch size; only the inserts are timed. With --port-insert, also the port's insert() of the
   rows converted in Python (the previous copy path). The table is truncated after each.
3. Runs the observations copy migration (CopyToClickHouse.run, state in the real row) per batch
   size and prints rows/s, checking every row arrived once. ClickHouse is embedded chDB in a temp
   dir unless CLICKHOUSE_URL is set (then CLICKHOUSE_USER/PASSWORD are used).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg.types.string import ByteaBinaryLoader
from psycopg_pool import AsyncConnectionPool

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from langfuse_aio.domain.v2_rows import observation_row
from langfuse_aio.migrations.background import copy_sql
from langfuse_aio.migrations.background.copy_to_clickhouse import SCRIPTS, CopyToClickHouse, batch_query
from langfuse_aio.migrations.clickhouse_apply import apply_clickhouse_migrations
from langfuse_aio.migrations.postgres_apply import apply_postgres_migrations
from langfuse_aio.storage.clickhouse.base import ClickHouse
from langfuse_aio.storage.clickhouse.chdb_backend import open_chdb
from langfuse_aio.storage.clickhouse.http_backend import open_http
from langfuse_aio.storage.postgres.legacy_rows import UTC_SESSION, fast_jsonb

PROJECT = "bench"
SCRIPT = SCRIPTS["observations"]
COLUMNS = ("id, name, start_time, end_time, type, trace_id, metadata, model, \"modelParameters\", input, output,"
           " level, completion_tokens, prompt_tokens, total_tokens, project_id, created_at, unit, internal_model,"
           " updated_at, calculated_input_cost, calculated_output_cost, calculated_total_cost, internal_model_id")
BASE = datetime(2024, 1, 1)
PLATEAU = datetime(2023, 11, 10)
NEWLINE = b"\n"


def tsv_row(i: int, n: int) -> str:
    start = BASE + timedelta(milliseconds=i * 7)
    created = PLATEAU if i < n // 10 else start + timedelta(milliseconds=40)
    generation = i % 3 == 0
    question = f"Question {i}: what does the v2 to v3 migration do with a created_at plateau? " * 2
    inp = json.dumps({"messages": [{"role": "system", "content": "Be exact."}, {"role": "user", "content": question}]})
    out = json.dumps({"role": "assistant", "content": f"Answer {i}: it pages by (created_at, id)."})
    meta = json.dumps({"env": "prod", "attempt": i % 5, "tags": ["a", "b"]}) if i % 2 == 0 else r"\N"
    end = (start + timedelta(milliseconds=850)).isoformat(sep=" ")
    if generation:
        model, params, unit, internal, model_id = "gpt-4o", '{"temperature": 0.2}', "TOKENS", "gpt-4o", "m-gpt-4o"
        prompt, completion = 200 + i % 100, 50 + i % 30
        costs = (f"{prompt * 0.000005:.12f}", f"{completion * 0.000015:.12f}",
                 f"{prompt * 0.000005 + completion * 0.000015:.12f}")
    else:
        model = params = unit = internal = model_id = r"\N"
        prompt = completion = 0
        costs = (r"\N", r"\N", r"\N")
    return "\t".join((
        f"obs-{i:08d}", "answer" if generation else "retrieve", start.isoformat(sep=" "), end,
        "GENERATION" if generation else "SPAN", f"trace-{i // 10:07d}", meta, model, params, inp, out, "DEFAULT",
        str(completion), str(prompt), str(prompt + completion), PROJECT, created.isoformat(sep=" "), unit, internal,
        created.isoformat(sep=" "), *costs, model_id,
    )) + "\n"


async def seed(url: str, n: int) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await apply_postgres_migrations(conn)
        await conn.execute("INSERT INTO organizations (id, name) VALUES ('bench-org', 'bench')")
        await conn.execute("INSERT INTO projects (id, name, org_id) VALUES (%s, 'bench', 'bench-org')", (PROJECT,))
        started = time.perf_counter()
        async with conn.cursor() as cur, cur.copy(f"COPY observations ({COLUMNS}) FROM STDIN".encode()) as copy:
            chunk: list[str] = []
            for i in range(n):
                chunk.append(tsv_row(i, n))
                if len(chunk) == 10_000:
                    await copy.write("".join(chunk))
                    chunk.clear()
                if (i + 1) % 100_000 == 0:
                    print(f"  seeded {i + 1:,} rows ({time.perf_counter() - started:.1f} s)", flush=True)
            if chunk:
                await copy.write("".join(chunk))
        await conn.execute("ANALYZE observations")
        print(f"seeded {n:,} observations in {time.perf_counter() - started:.1f} s", flush=True)


async def read_lines(url: str, batch_size: int) -> list[bytes]:
    """The copy's JSONCompactEachRow batch bodies for every row, built by the copy's own SQL (untimed)."""
    batches: list[bytes] = []
    where = "o.created_at <= %(ts)s"
    started = time.perf_counter()
    async with (await psycopg.AsyncConnection.connect(url) as conn, conn.transaction(),
                conn.cursor("bench_lines", binary=True) as cur):
        cur.adapters.register_loader("text", ByteaBinaryLoader)
        query = copy_sql.lines_query("observations", where, prompts=False)
        await cur.execute(query.encode(), {"ts": datetime(2100, 1, 1)})
        while rows := await cur.fetchmany(batch_size):
            batches.append(copy_sql.json_lines(rows))
    seconds = time.perf_counter() - started
    rows_read = sum(body.count(NEWLINE) + 1 for body in batches)
    print(f"  Postgres lines alone: {rows_read / seconds:,.0f} rows/s", flush=True)
    return batches


async def ceiling(url: str, ch: ClickHouse, batch_size: int, n: int) -> float:
    """Rows/s of the engine's raw insert alone: the same rows' JSONCompactEachRow bodies, built beforehand
    (untimed), sent with insert_formatted in batches of the batch size; only the inserts are timed."""
    batches = await read_lines(url, batch_size)
    started, cpu = time.perf_counter(), time.process_time()
    for body in batches:
        await ch.insert_formatted("observations", copy_sql.FORMAT, body, copy_sql.COLUMNS["observations"])
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    counted = await ch.query("SELECT count() AS n FROM observations")
    assert counted[0]["n"] == n, counted
    print(f"  ceiling: raw insert_formatted (JSONCompactEachRow) {n / seconds:,.0f} rows/s ({seconds:.1f} s for {n:,};"
          f" {sum(map(len, batches)) / n:,.0f} bytes/row; {cpu / seconds:.1f} cores busy in this process)", flush=True)
    await ch.command("TRUNCATE TABLE observations")
    return n / seconds


async def port_insert(url: str, ch: ClickHouse, batch_size: int) -> float:
    """Rows/s of the port's insert() (Python rows → Arrow/Native) for the same rows, converted beforehand."""
    insert_seconds = 0.0
    total = 0
    async with (await psycopg.AsyncConnection.connect(url) as conn, conn.transaction(),
                conn.cursor("bench_port", row_factory=dict_row, binary=True) as cur):
        fast_jsonb(cur)
        await conn.execute(UTC_SESSION)
        await cur.execute(batch_query("observations", prompts=False).encode(), {"ts": datetime(2100, 1, 1), "id": None})
        while rows := await cur.fetchmany(batch_size):
            converted = [observation_row(r) for r in rows]
            t0 = time.perf_counter()
            await ch.insert("observations", converted)
            insert_seconds += time.perf_counter() - t0
            total += len(rows)
    print(f"  port insert(): {total / insert_seconds:,.0f} rows/s ({insert_seconds:.1f} s for {total:,})", flush=True)
    await ch.command("TRUNCATE TABLE observations")
    return total / insert_seconds


class RowState:
    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool

    async def load(self) -> dict[str, Any]:
        async with self._pool.connection() as conn:
            cur = await conn.execute("SELECT state FROM background_migrations WHERE script = %s", (SCRIPT,))
            row = await cur.fetchone()
        return dict(row[0]) if row else {}

    async def save(self, updates: Mapping[str, Any]) -> None:
        async with self._pool.connection() as conn:
            await conn.execute("UPDATE background_migrations SET state = state || %s WHERE script = %s",
                               (Jsonb(dict(updates)), SCRIPT))


async def migrate(url: str, ch: ClickHouse, n: int, batch_size: int) -> float:
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(url, min_size=1, max_size=4, open=False,
                                                        kwargs={"autocommit": True})
    await pool.open(wait=True)
    try:
        async with pool.connection() as conn:
            await conn.execute("UPDATE background_migrations SET state = '{}' WHERE script = %s", (SCRIPT,))
        copy = CopyToClickHouse(pool, ch, "observations")
        started, cpu = time.perf_counter(), time.process_time()
        await copy.run({"batchSize": batch_size}, RowState(pool), asyncio.Event())
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        await pool.close()
    counted = await ch.query(
        "SELECT count() AS n, uniqExact(id) AS ids FROM observations WHERE project_id = {p:String}", {"p": PROJECT})
    assert counted[0]["n"] == counted[0]["ids"] == n, counted
    print(f"  migration, batchSize {batch_size}: {n / seconds:,.0f} rows/s ({seconds:.1f} s for {n:,};"
          f" {cpu / seconds:.1f} cores busy in this process)", flush=True)
    await ch.command("TRUNCATE TABLE observations")
    return n / seconds


async def open_clickhouse(tmp: Path) -> ClickHouse:
    if os.environ.get("CLICKHOUSE_URL"):
        ch: ClickHouse = await open_http(os.environ["CLICKHOUSE_URL"], os.environ.get("CLICKHOUSE_USER", "default"),
                                         os.environ.get("CLICKHOUSE_PASSWORD", ""), "bench_v2_migration")
    else:
        ch = await open_chdb(tmp / "chdb", "default")
    await apply_clickhouse_migrations(ch, cluster=None)
    return ch


async def main(args: argparse.Namespace) -> None:
    name = f"lfaio_bench_v2_{secrets.token_hex(4)}"
    async with await psycopg.AsyncConnection.connect(args.pg_url, autocommit=True) as admin:
        await admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_conninfo(args.pg_url, dbname=name)
    try:
        await seed(url, args.rows)
        with tempfile.TemporaryDirectory(prefix="lfaio-bench-v2-") as tmp:
            ch = await open_clickhouse(Path(tmp))
            try:
                for batch_size in args.batch_size:
                    if args.port_insert:
                        await port_insert(url, ch, batch_size)
                    limit = await ceiling(url, ch, batch_size, args.rows)
                    rate = await migrate(url, ch, args.rows, batch_size)
                    print(f"batchSize {batch_size}: ceiling {limit:,.0f} rows/s, copy {rate:,.0f} rows/s"
                          f" ({rate / limit:.0%}); load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
                          flush=True)
            finally:
                await ch.close()
    finally:
        async with await psycopg.AsyncConnection.connect(args.pg_url, autocommit=True) as admin:
            await admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=lambda s: [int(x) for x in s.split(",")], default=[5000])
    parser.add_argument("--port-insert", action="store_true", help="also time the port's insert() (slow)")
    parser.add_argument("--pg-url", default=os.environ.get("LANGFUSE_AIO_BENCH_PG_URL",
                                                           "postgresql://postgres@127.0.0.1:5432/postgres"))
    return parser.parse_args()


if __name__ == "__main__":
    import uvloop

    uvloop.run(main(parse_args()))
