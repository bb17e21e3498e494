"""Read-API latency on a seeded project: 1M traces, 6M observations, 1.5M scores at --scale 1.

    .venv/bin/python scripts/bench/read_api.py [--scale 0.01] [--data-dir DIR] [--requests 50]

1. Opens the embedded stores of DIR as the server does (`open_resources`), creates a project and an
   API key, and generates the rows inside ClickHouse (read_api_seed.py); prints rows/s per table,
   active parts and running merges. The stores are then closed. A DIR seeded before (bench.json
   present) is reused as it is (--scale is then ignored); any other non-empty DIR is refused.
2. Starts `langfuse-aio` on DIR and, after a warm-up, times sequential requests per case with
   httpx; prints p50/p95 against the targets. Routes answering 404 "Route not found" or 405 are
   reported as not implemented. The load average is printed with each case.
3. Under writes: "metrics daily after write" ingests one trace with one generation (now) through
   POST /api/public/ingestion, waits until the worker has written it (GET /traces/{id} lists the
   generation), then times one metrics call; repeated --requests times.

ClickHouse may still be merging parts when the server starts (merges that chDB had not finished
resume in the server process); the part counts printed after seeding tell how far it got. We do
not OPTIMIZE ... FINAL: a real install does not get that either.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
from read_api_seed import TAGS, USERS, Plan, parts_and_merges, seed, seed_sessions

from langfuse_aio.logging import configure_logging
from langfuse_aio.runtime.resources import open_resources
from langfuse_aio.services.provisioning import create_api_key, ensure_organization, ensure_project
from langfuse_aio.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
STORE_VARS = ("DATABASE_URL", "CLICKHOUSE_URL", "REDIS_CONNECTION_STRING", "REDIS_HOST", "SALT",
              "LANGFUSE_S3_EVENT_UPLOAD_BUCKET")
PROJECT_ID = "bench-read-api"
TARGET_MS = {"list": 50.0, "detail": 30.0, "metrics": 200.0}


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def disk_usage(path: Path) -> int:
    return sum(f.stat().st_blocks * 512 for f in path.rglob("*") if f.is_file() and not f.is_symlink())


async def seed_data_dir(data_dir: Path, plan: Plan, chunk: int, merge_wait: float) -> dict[str, str]:
    settings = load_settings({"LANGFUSE_AIO_DATA_DIR": str(data_dir)})
    configure_logging("warn", "text")
    async with open_resources(settings) as res:
        async with res.pg.connection() as conn:
            await ensure_organization(conn, "bench-org", "Benchmark Organization")
            await ensure_project(conn, PROJECT_ID, "bench-org", "Read API benchmark")
            key = await create_api_key(conn, PROJECT_ID, salt=res.salt, note="scripts/bench/read_api.py")
        started = time.monotonic()
        timings = await seed(res.clickhouse, PROJECT_ID, plan, chunk)
        async with res.pg.connection() as conn:
            timings["trace_sessions"] = await seed_sessions(conn, PROJECT_ID, plan)
        total_rows, total_s = sum(rows for rows, _ in timings.values()), time.monotonic() - started
        for table, (rows, seconds) in timings.items():
            print(f"seeded {table:<14} {rows:>10,} rows in {seconds:7.1f} s = {rows / seconds:>9,.0f} rows/s")
        print(f"seeded {'all':<14} {total_rows:>10,} rows in {total_s:7.1f} s = {total_rows / total_s:>9,.0f} rows/s")
        deadline = time.monotonic() + merge_wait
        parts, merges = await parts_and_merges(res.clickhouse)
        while merges and time.monotonic() < deadline:
            await asyncio.sleep(2)
            parts, merges = await parts_and_merges(res.clickhouse)
        print(f"after seeding (+{merge_wait:.0f} s max wait): active parts {parts}, merges running: {merges}"
              + (" (they resume in the server process)" if merges else ""))
    info = {"public_key": key.public_key, "secret_key": key.secret_key, "traces": str(plan.traces),
            "days": str(plan.days), "end_ms": str(plan.end_ms)}
    (data_dir / "bench.json").write_text(json.dumps(info))
    return info


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(data_dir: Path, log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in STORE_VARS and not k.startswith("LANGFUSE_")}
    env.update(LANGFUSE_AIO_DATA_DIR=str(data_dir), PORT=str(port), HOSTNAME="127.0.0.1",
               LANGFUSE_LOG_LEVEL="warn", LANGFUSE_LOG_FORMAT="json")
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "langfuse_aio.cli"], env=env, cwd=ROOT,
                                stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited during start:\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(base + "/api/public/health", timeout=2).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    proc.wait(60)
    raise SystemExit(f"server not healthy within 180 s:\n{log_path.read_text()[-3000:]}")


def cases(plan: Plan, rnd: random.Random) -> list[tuple[str, str, Callable[[], str]]]:
    """(name, target kind, URL maker) per case; each call makes a fresh URL from `rnd`."""
    def trace() -> str:
        return f"trace-{rnd.randrange(plan.traces)}"

    def window() -> str:
        start = plan.start_ms + rnd.randrange(max(plan.days - 1, 1)) * 86_400_000
        return f"fromTimestamp={iso(start)}&toTimestamp={iso(start + 86_400_000)}"

    return [
        ("trace list", "list", lambda: "/api/public/traces?limit=50"),
        ("trace list userId", "list", lambda: f"/api/public/traces?limit=50&userId=user-{rnd.randrange(USERS)}"),
        ("trace list tags", "list", lambda: f"/api/public/traces?limit=50&tags={rnd.choice(TAGS)}"),
        ("trace list 1-day window", "list", lambda: f"/api/public/traces?limit=50&{window()}"),
        ("trace detail", "detail", lambda: f"/api/public/traces/{trace()}"),
        ("observations of trace", "list", lambda: f"/api/public/observations?traceId={trace()}"),
        ("metrics daily", "metrics", lambda: "/api/public/metrics/daily"),
        ("sessions list (extra)", "list", lambda: "/api/public/sessions?limit=50"),
        ("session detail (extra)", "detail", lambda: f"/api/public/sessions/session-{rnd.randrange(plan.sessions)}"),
        ("v2 scores list (extra)", "list", lambda: "/api/public/v2/scores?limit=50"),
    ]


def not_implemented(response: httpx.Response) -> bool:
    if response.status_code == 405:
        return True
    if response.status_code != 404:
        return False
    try:
        return bool(response.json().get("message") == "Route not found")
    except ValueError:
        return False


def measure(client: httpx.Client, make_url: Callable[[], str], requests: int, warmup: int) -> str | list[float]:
    """Latencies in ms, or why the case could not be measured."""
    for _ in range(warmup):
        response = client.get(make_url())
        if not_implemented(response):
            return "not implemented"
        if response.status_code != 200:
            return f"HTTP {response.status_code}: {response.text[:160]}"
    latencies = []
    for _ in range(requests):
        url = make_url()
        begin = time.perf_counter()
        response = client.get(url)
        elapsed = (time.perf_counter() - begin) * 1000
        if response.status_code != 200:
            return f"HTTP {response.status_code} on {url}: {response.text[:160]}"
        latencies.append(elapsed)
    return latencies


def ingest_one(client: httpx.Client, n: int) -> str:
    """One trace with one generation, stamped now, through the ingestion API; returns the trace id."""
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    trace_id = f"bench-live-{os.getpid()}-{n}-{time.time_ns()}"
    batch = [
        {"id": f"{trace_id}-e1", "type": "trace-create", "timestamp": now,
         "body": {"id": trace_id, "name": "live-write", "timestamp": now, "userId": "user-live"}},
        {"id": f"{trace_id}-e2", "type": "generation-create", "timestamp": now,
         "body": {"id": f"{trace_id}-g", "traceId": trace_id, "name": "gen", "startTime": now, "endTime": now,
                  "model": "gpt-4o", "usage": {"input": 10, "output": 5}}},
    ]
    response = client.post("/api/public/ingestion", json={"batch": batch})
    if response.status_code != 207:
        raise SystemExit(f"ingestion answered {response.status_code}: {response.text[:200]}")
    return trace_id


def wait_written(client: httpx.Client, trace_id: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get(f"/api/public/traces/{trace_id}")
        if response.status_code == 200 and response.json().get("observations"):
            return
        time.sleep(0.02)
    raise SystemExit(f"trace {trace_id} not written within {timeout:.0f} s")


def measure_after_write(client: httpx.Client, requests: int) -> str | list[float]:
    latencies = []
    for n in range(requests):
        wait_written(client, ingest_one(client, n))
        begin = time.perf_counter()
        response = client.get("/api/public/metrics/daily")
        elapsed = (time.perf_counter() - begin) * 1000
        if response.status_code != 200:
            return f"HTTP {response.status_code}: {response.text[:160]}"
        latencies.append(elapsed)
    return latencies


def report(name: str, kind: str, result: str | list[float]) -> None:
    load = os.getloadavg()[0]
    if isinstance(result, str):
        print(f"{name:<26} {result}")
        return
    p = statistics.quantiles(result, n=100, method="inclusive")
    p50, p95 = statistics.median(result), p[94]
    verdict = "ok" if p50 <= TARGET_MS[kind] else "MISSED"
    print(f"{name:<26} {p50:8.1f} {p95:8.1f} {max(result):8.1f}  <= {TARGET_MS[kind]:.0f} ms {verdict:<6}"
          f"  load {load:.2f}")


def run_measurements(base: str, info: dict[str, str], plan: Plan, requests: int, warmup: int,
                     only: set[str] | None = None) -> None:
    rnd = random.Random(42)
    auth = (info["public_key"], info["secret_key"])
    print(f"\n{'case':<26} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  target (p50)")
    with httpx.Client(base_url=base, auth=auth, timeout=60) as client:
        for name, kind, make_url in cases(plan, rnd):
            if only is None or name in only:
                report(name, kind, measure(client, make_url, requests, warmup))
        if only is None or "metrics daily after write" in only:
            report("metrics daily after write", "metrics", measure_after_write(client, requests))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 1M traces, 6M observations, 1.5M scores")
    parser.add_argument("--data-dir", type=Path, help="default: a new temporary directory, removed at the end")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--chunk", type=int, default=100_000, help="rows per INSERT ... SELECT")
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--merge-wait", type=float, default=30.0, help="seconds to wait for merges after seeding")
    parser.add_argument("--only", action="append", help="run only this case (repeatable)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="read-api-bench-") as tmp:
        data_dir = (args.data_dir or Path(tmp) / "data").resolve()
        marker = data_dir / "bench.json"
        if marker.exists():
            info = json.loads(marker.read_text())
            print(f"reusing seeded {data_dir} ({int(info['traces']):,} traces)")
        elif data_dir.exists() and any(data_dir.iterdir()):
            raise SystemExit(f"{data_dir} is not empty and was not seeded by this script")
        else:
            plan = Plan(traces=max(int(1_000_000 * args.scale), 10), days=args.days,
                        end_ms=int(time.time() * 1000))
            print(f"seeding {data_dir}: {plan.traces:,} traces, {plan.observations:,} observations, "
                  f"{plan.scores:,} scores, {plan.sessions:,} sessions over {plan.days} days")
            info = asyncio.run(seed_data_dir(data_dir, plan, args.chunk, args.merge_wait))
        plan = Plan(traces=int(info["traces"]), days=int(info["days"]), end_ms=int(info["end_ms"]))
        sizes = {d.name: disk_usage(d) / 2**20 for d in sorted(data_dir.iterdir()) if d.is_dir()}
        print(f"data dir {disk_usage(data_dir) / 2**20:,.0f} MiB: "
              + ", ".join(f"{name} {mib:,.0f} MiB" for name, mib in sizes.items()))

        log_path = data_dir.parent / "read-api-bench-server.log"
        started = time.monotonic()
        proc, base = start_server(data_dir, log_path)
        print(f"server healthy in {time.monotonic() - started:.1f} s (log: {log_path})")
        try:
            run_measurements(base, info, plan, args.requests, args.warmup,
                             set(args.only) if args.only else None)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
