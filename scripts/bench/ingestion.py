"""Ingestion throughput: the framework ceiling, the real server under wrk, and end-to-end freshness.

    .venv/bin/python scripts/bench/ingestion.py [--runs 2] [--seconds 15] [--rates 20,200] [--feed-seconds 15]

(a) ceiling: a bare Quart app on Hypercorn (uvloop, one worker, the server's Hypercorn settings) whose
    POST /api/public/ingestion reads the body and answers a constant 207; driven by wrk.
(b) `langfuse-aio --mode all` on embedded stores (fresh data dir): the same wrk load, then the time
    the worker needs to drain the backlog it left.
(c) a Python feeder (httpx, a few connections) posts batches at each fixed rate while polling a sample
    of traces until they are fully visible (ack -> visible latency), then measures the drain after it
    stops. The feeder and wrk run on the same machine as the server, and each costs it CPU.
Every request is one SDK-like batch of 50 events: 5 traces x (trace create + update, a span create +
update, two generations create + update, two scores) with ids unique to the request.
Needs wrk (`apt-get install -y wrk`). `--profile DIR` also records py-spy stacks of the server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _common import (
    AUTH,
    LUA,
    PATH,
    TRACES_PER_BATCH,
    Server,
    add_server_env_option,
    batch_body,
    cpu_seconds,
    free_port,
    now_iso,
    percentile,
    wait_accepting,
    wrk,
)

# -- (a) the ceiling app ---------------------------------------------------------------------------

def serve_ceiling(port: int) -> None:
    import uvloop
    from hypercorn.asyncio import serve
    from quart import Quart, request

    from langfuse_aio.runtime.server import hypercorn_config

    app = Quart("ceiling")
    answer = json.dumps({"successes": [{"id": f"event-{i:04d}", "status": 201} for i in range(50)], "errors": []},
                        separators=(",", ":"))

    @app.post(PATH)
    async def ingest() -> tuple[str, int, dict[str, str]]:
        await request.get_data(cache=False)
        return answer, 207, {"Content-Type": "application/json"}

    uvloop.run(serve(app, hypercorn_config(f"127.0.0.1:{port}")))  # type: ignore[arg-type]


def show(name: str, r: dict[str, float], extra: str = "") -> None:
    print(f"  {name}: {r['rps']:.0f} req/s ({r['ev_s']:.0f} acked events/s), p50 {r['p50']:.1f} ms, "
          f"p99 {r['p99']:.1f} ms, non-207/failed {r['failed']:.0f}, wrk used {r['wrk_cpu']:.2f} cores{extra}")


def py_spy(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(exe).exists():
        print("  (py-spy not found: no profile)")
        return None
    return subprocess.Popen([exe, "record", "--nonblocking", "-r", "50", "-d", str(int(seconds)), "--format", "raw",
                             "-o", str(out), "--pid", str(pid), "--subprocesses"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def drain(server: Server, timeout: float) -> float | None:
    """Seconds until no ingestion job waits or runs (None if not within `timeout`)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if server.queue() == (0, 0):
            return time.monotonic() - start
        time.sleep(0.1)
    return None


# -- (c) the feeder --------------------------------------------------------------------------------

async def feed(server: Server, args: argparse.Namespace, rate: float, tag: str) -> dict[str, float]:
    total = int(rate * args.feed_seconds)
    ts = now_iso()
    ids = [[f"{tag}-{n}-{t}" for t in range(TRACES_PER_BATCH)] for n in range(total)]
    bodies = [batch_body(tr, ts, n % 50) for n, tr in enumerate(ids)]
    sample = set(range(0, total, max(1, round(rate / args.samples_per_second))))
    acked_at: dict[str, float] = {}  # sampled trace -> when its request was acknowledged
    next_poll: dict[str, float] = {}
    visible_at: dict[str, float] = {}
    ack_ms: list[float] = []
    failed = 0
    limits = httpx.Limits(max_connections=args.feed_connections + 4)
    cpu0 = time.process_time()
    async with httpx.AsyncClient(base_url=server.url, headers={"Authorization": AUTH}, timeout=30,
                                 limits=limits) as client:
        start = time.monotonic()
        slots = iter(range(total))

        async def sender() -> None:
            nonlocal failed
            for n in slots:
                if (delay := start + n / rate - time.monotonic()) > 0:
                    await asyncio.sleep(delay)
                t0 = time.monotonic()
                resp = await client.post(PATH, content=bodies[n], headers={"Content-Type": "application/json"})
                t1 = time.monotonic()
                if resp.status_code == 207 and not resp.json()["errors"]:
                    ack_ms.append((t1 - t0) * 1000)
                    if n in sample:
                        acked_at[random.choice(ids[n])] = t1
                else:
                    failed += 1

        async def check(trace_id: str) -> None:
            r = await client.get(f"/api/public/traces/{trace_id}")
            now = time.monotonic()
            body = r.json() if r.status_code == 200 else {}
            if len(body.get("observations", ())) == 3 and len(body.get("scores", ())) == 2 and body.get("output"):
                visible_at.setdefault(trace_id, now)
            else:  # each GET costs the server several chDB queries: poll less often as a sample ages
                next_poll[trace_id] = now + max(0.1, (now - acked_at[trace_id]) / 10)

        async def poller(stop: asyncio.Event) -> None:
            while not (stop.is_set() and len(visible_at) == len(acked_at)):
                now = time.monotonic()
                due = [t for t in acked_at if t not in visible_at and next_poll.get(t, acked_at[t] + 0.1) <= now]
                await asyncio.gather(*(check(t) for t in due[: args.poll_batch]))
                await asyncio.sleep(0.05)

        stop = asyncio.Event()
        polling = asyncio.create_task(poller(stop))
        await asyncio.gather(*(sender() for _ in range(args.feed_connections)))
        fed = time.monotonic() - start
        feeder_cpu = time.process_time() - cpu0
        depth = sum(server.queue())
        stop.set()
        drained = await asyncio.to_thread(drain, server, args.drain_timeout)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(polling, 60)
        polling.cancel()
    lag = [visible_at[t] - acked_at[t] for t in visible_at]
    n_acked = len(ack_ms)
    drain_s = float("nan") if drained is None else drained
    return {"offered": total / args.feed_seconds, "rps": n_acked / fed, "ev_s": n_acked * 50 / fed,
            "acked": n_acked, "failed": failed, "p50": percentile(ack_ms, 50), "p99": percentile(ack_ms, 99),
            "vis_p50": percentile(lag, 50), "vis_p95": percentile(lag, 95), "samples": len(lag),
            "missing": len(acked_at) - len(lag), "depth": depth, "drain": drain_s,
            "e2e": n_acked * 50 / (fed + drain_s), "feeder_cpu": feeder_cpu / fed}


def count_traces(server: Server) -> int | None:
    """Traces the read API lists (None if this build has no trace list)."""
    r = httpx.get(server.url + "/api/public/traces", params={"limit": 1}, headers={"Authorization": AUTH}, timeout=60)
    return int(r.json()["meta"]["totalItems"]) if r.status_code == 200 else None


# -- main ------------------------------------------------------------------------------------------

def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def one_run(args: argparse.Namespace, lua: Path, tmp: Path, run: int) -> dict[str, float]:
    print(f"\n== run {run}  (load average {load()}, {os.cpu_count()} cores)")
    port = free_port()
    ceiling_proc = subprocess.Popen([sys.executable, __file__, "--serve-ceiling", str(port)])
    try:
        wait_accepting(f"http://127.0.0.1:{port}" + PATH, ceiling_proc)
        wrk(f"http://127.0.0.1:{port}", lua, args, args.warmup, f"w{run}")
        ceiling = wrk(f"http://127.0.0.1:{port}", lua, args, args.seconds, f"c{run}")
    finally:
        ceiling_proc.terminate()
        ceiling_proc.wait()
    show("(a) ceiling, bare Quart+Hypercorn", ceiling)
    out: dict[str, float] = {"ceil_rps": ceiling["rps"], "ceil_p50": ceiling["p50"], "ceil_p99": ceiling["p99"]}
    server = Server(tmp / f"run{run}" / "data", dict(args.server_env))
    try:
        procs = server.processes()
        traces = wrk(server.url, lua, args, args.warmup, f"w{run}")["acked"] * TRACES_PER_BATCH
        drain(server, args.drain_timeout)
        spy = py_spy(server.proc.pid, args.seconds, Path(args.profile) / f"wrk-{run}.txt") if args.profile else None
        cpu0, t0 = cpu_seconds(procs), time.monotonic()
        real = wrk(server.url, lua, args, args.seconds, f"r{run}")
        real["server_cpu"] = (cpu_seconds(procs) - cpu0) / (time.monotonic() - t0)
        traces += real["acked"] * TRACES_PER_BATCH
        backlog = sum(server.queue())
        drained = drain(server, args.drain_timeout)
        real["drain"] = float("nan") if drained is None else drained
        real["worker"] = backlog * 50 / real["drain"]
        real["e2e"] = real["acked"] * 50 / (real["seconds"] + real["drain"])
        real["ratio"] = real["rps"] / ceiling["rps"]
        if spy:
            spy.wait()
        show("(b) langfuse-aio --mode all", real, f", server {real['server_cpu']:.2f} cores")
        print(f"      {real['ratio']:.0%} of the ceiling (target >= 60 %); backlog at stop {backlog} jobs, drained in "
              f"{real['drain']:.1f} s (worker alone: {real['worker']:.0f} events/s) -> {real['e2e']:.0f} events/s "
              "end to end")
        out |= {f"real_{k}": v for k, v in real.items()}
        for rate in args.rates:
            print(f"  (c) feeder at {rate:.0f} req/s ({rate * 50:.0f} events/s) for {args.feed_seconds:.0f} s "
                  f"(load average {load()})")
            path = Path(args.profile or ".") / f"feed-{run}-{rate:.0f}.txt"
            spy = py_spy(server.proc.pid, args.feed_seconds, path) if args.profile else None
            cpu0, t0 = cpu_seconds(procs), time.monotonic()
            fed = asyncio.run(feed(server, args, rate, f"f{run}-{rate:.0f}"))
            fed["server_cpu"] = (cpu_seconds(procs) - cpu0) / (time.monotonic() - t0)
            traces += int(fed["acked"]) * TRACES_PER_BATCH
            if spy:
                spy.wait()
            print(f"      acked {fed['rps']:.0f} req/s ({fed['ev_s']:.0f} events/s), ack p50 {fed['p50']:.1f} ms "
                  f"p99 {fed['p99']:.1f} ms, failed {fed['failed']:.0f}")
            print(f"      ack->visible p50 {fed['vis_p50']:.2f} s p95 {fed['vis_p95']:.2f} s over {fed['samples']:.0f} "
                  f"sampled traces (target p95 <= 1 s; never seen: {fed['missing']:.0f}); queue at stop "
                  f"{fed['depth']:.0f} jobs, drained in {fed['drain']:.1f} s -> {fed['e2e']:.0f} events/s end to end")
            print(f"      the feeder used {fed['feeder_cpu']:.2f} cores of {os.cpu_count()} (server and its stores "
                  f"{fed['server_cpu']:.2f}): on this machine it competes with the server")
            out |= {f"feed{rate:.0f}_{k}": v for k, v in fed.items()}
        listed = count_traces(server)
        if listed is not None:
            print(f"  all acknowledged traces listed by GET /api/public/traces: {listed} of {traces}")
    finally:
        server.stop()
    return out




def table(results: list[dict[str, float]], rates: list[float]) -> None:
    rows = [("(a) ceiling req/s", "ceil_rps", "0"), ("(a) ceiling p50/p99 ms", "ceil_p50", "p"),
            ("(b) server req/s", "real_rps", "0"), ("(b) server acked events/s", "real_ev_s", "0"),
            ("(b) server p50/p99 ms", "real_p50", "p"), ("(b) ratio to ceiling", "real_ratio", "%"),
            ("(b) server cores used", "real_server_cpu", "2"), ("(b) backlog drain s", "real_drain", "1"),
            ("(b) worker alone events/s", "real_worker", "0"), ("(b) end-to-end events/s", "real_e2e", "0")]
    for r in rates:
        rows += [(f"(c@{r:.0f}/s) {label}", f"feed{r:.0f}_{key}", fmt) for label, key, fmt in (
            ("acked events/s", "ev_s", "0"), ("ack p50/p99 ms", "p50", "p"), ("ack->visible p50 s", "vis_p50", "2"),
            ("ack->visible p95 s", "vis_p95", "2"), ("drain after stop s", "drain", "1"),
            ("end-to-end events/s", "e2e", "0"), ("feeder cores", "feeder_cpu", "2"))]
    print("\n" + " " * 34 + "".join(f"{'run ' + str(i):>12}" for i in range(1, len(results) + 1)))
    for label, key, fmt in rows:
        cells = [f"{r[key]:.1f}/{r[key.replace('p50', 'p99')]:.0f}" if fmt == "p"
                 else f"{r[key]:.0%}" if fmt == "%" else f"{r[key]:.{fmt}f}" for r in results]
        print(f"{label:<34}" + "".join(f"{c:>12}" for c in cells))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=15, help="wrk duration per measurement")
    p.add_argument("--warmup", type=float, default=3)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--wrk-threads", type=int, default=1)
    p.add_argument("--rates", type=lambda v: [float(x) for x in v.split(",")], default=[20.0, 200.0],
                   help="feeder requests/s, comma-separated, each x50 events (default 20,200)")
    p.add_argument("--feed-seconds", type=float, default=15)
    p.add_argument("--feed-connections", type=int, default=8)
    p.add_argument("--samples-per-second", type=float, default=2, help="traces sampled for ack->visible")
    p.add_argument("--poll-batch", type=int, default=4, help="at most this many GETs at once")
    p.add_argument("--drain-timeout", type=float, default=600)
    p.add_argument("--runs", type=int, default=2)
    add_server_env_option(p)
    p.add_argument("--profile", metavar="DIR", help="record py-spy raw stacks of the server into DIR")
    p.add_argument("--serve-ceiling", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve_ceiling:
        serve_ceiling(args.serve_ceiling)
        return
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: `apt-get install -y wrk` (Debian package), then run again")
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lfaio-bench-") as tmp:
        lua = Path(tmp) / "batch.lua"
        lua.write_text(LUA)
        results = [one_run(args, lua, Path(tmp), run) for run in range(1, args.runs + 1)]
    table(results, args.rates)


if __name__ == "__main__":
    main()
