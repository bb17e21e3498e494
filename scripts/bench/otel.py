"""OTLP ingestion throughput: spans/s acknowledged and spans/s to full visibility, against the framework
ceiling in the same run.

    .venv/bin/python scripts/bench/otel.py [--runs 2] [--seconds 15] [--connections 16] [--gzip]

Every request is one `ExportTraceServiceRequest` in binary protobuf with 100 spans: 10 traces of 10
spans each, shaped like the Python SDK 5.x sends them (a root span, nested spans, generations with
model, parameters, usage and cost, a tool, an event; user, session, tags, trace metadata, version,
release and environment propagated onto every span; Langfuse SDK scope and resource attributes).
Trace and span ids are unique per request (wrk's Lua writes a request-unique 6-byte stamp into
fixed-length placeholders of a prebuilt body, so the protobuf framing never changes).

(a) ceiling: a bare Quart app on Hypercorn (uvloop, one worker, the server's Hypercorn settings) whose
    POST /api/public/otel/v1/traces reads the body and answers a constant empty 200; driven by wrk.
(b) `langfuse-aio --mode all` on embedded stores (fresh data dir), the same wrk load: acknowledged
    spans/s (a 200 without partial_success), p50/p99, the server's CPU; then the time until every
    acknowledged span is visible (GET /api/public/observations counts them), which gives spans/s to
    full visibility = acknowledged spans / (load seconds + catch-up seconds).
(c) the web half alone: the same server with every queued job deferred by an hour, so the worker in the
    same process does not compete for the CPU (and the GIL) while wrk runs.
wrk runs on the same machine as the server and costs it CPU; other processes may load it too, so the
script prints `uptime` before and after each run. `--tmp /dev/shm` puts the data dir in RAM, to tell the
disk's share (the worker writes one event file per observation) from the CPU's. `--gzip` sends gzip
bodies (the Python SDK's default) instead, prebuilt in a pool of `--gzip-pool` distinct requests and
cycled, so ids repeat once the pool is used up (acknowledged throughput only).
Needs wrk (`apt-get install -y wrk`).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _common import AUTH, Server, add_server_env_option, cpu_seconds, free_port, wait_accepting, wrk

OTEL_PATH = "/api/public/otel/v1/traces"
TRACES, SPANS_PER_TRACE = 10, 10
SPANS = TRACES * SPANS_PER_TRACE
STAMP = b"@@@@@@"  # 6 bytes, replaced per request


def build_request(stamp: bytes = STAMP) -> bytes:
    """A 100-span ExportTraceServiceRequest; ids embed `stamp` (trace: stamp+T+nn+pad, span: stamp+nn)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue

    def kv(key: str, value: object) -> KeyValue:
        if isinstance(value, bool):
            return KeyValue(key=key, value=AnyValue(bool_value=value))
        if isinstance(value, list):
            return KeyValue(key=key, value=AnyValue(array_value=ArrayValue(values=[AnyValue(string_value=v)
                                                                                  for v in value])))
        return KeyValue(key=key, value=AnyValue(string_value=str(value)))

    now = time.time_ns()
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.extend([kv("telemetry.sdk.language", "python"), kv("telemetry.sdk.name", "opentelemetry"),
                                   kv("telemetry.sdk.version", "1.45.2"), kv("service.name", "unknown_service:python"),
                                   kv("langfuse.environment", "bench"), kv("langfuse.release", "1.4.2")])
    ss = rs.scope_spans.add()
    ss.scope.name, ss.scope.version = "langfuse-sdk", "5.2.0"
    ss.scope.attributes.append(kv("public_key", "pk-lf-bench"))
    propagated = [kv("user.id", "user-7"), kv("session.id", "sess-7"), kv("langfuse.trace.name", "chat-request"),
                  kv("langfuse.trace.tags", ["bench", "chat"]), kv("langfuse.trace.metadata.tenant", '"acme"'),
                  kv("langfuse.version", "app-1"), kv("langfuse.environment", "bench"),
                  kv("langfuse.release", "1.4.2")]
    question = json.dumps([{"role": "system", "content": "You answer questions about our product using only the "
                                                         "given documents."},
                           {"role": "user", "content": "How do I rotate an API key without downtime?"}])
    answer = json.dumps({"role": "assistant", "content": "Create a second key, deploy it, then revoke the first "
                                                         "one once no request uses it any more."})
    kinds = ["span", "retriever", "generation", "span", "generation", "tool", "event", "chain", "generation", "span"]
    for t in range(TRACES):
        trace_id = stamp + b"T" + f"{t:02d}".encode() + b"\xee" * 7  # hex "ee": no long digit runs
        for s in range(SPANS_PER_TRACE):
            span = ss.spans.add()
            span.trace_id = trace_id
            span.span_id = stamp + f"{t * SPANS_PER_TRACE + s:02d}".encode()
            if s:
                span.parent_span_id = stamp + f"{t * SPANS_PER_TRACE + (0 if s < 4 else 3):02d}".encode()
            span.name = f"{kinds[s]}-{s}"
            span.kind = 1
            span.start_time_unix_nano = now + s * 1_000_000
            span.end_time_unix_nano = now + (s + 20) * 1_000_000 if kinds[s] != "event" else span.start_time_unix_nano
            span.flags = 256
            span.attributes.extend(propagated)
            span.attributes.extend([kv("langfuse.observation.type", kinds[s]),
                                    kv("langfuse.observation.input", question if kinds[s] == "generation"
                                       else '{"query": "rotate api key", "k": 4}')])
            if kinds[s] == "generation":
                span.attributes.extend([
                    kv("langfuse.observation.model.name", "gpt-4o"),
                    kv("langfuse.observation.model.parameters", '{"temperature": 0.2, "max_tokens": 512}'),
                    kv("langfuse.observation.usage_details", '{"input": 1234, "output": 87, "total": 1321}'),
                    kv("langfuse.observation.cost_details", '{"input": 0.003, "output": 0.0009}'),
                    kv("langfuse.observation.completion_start_time", '"2026-11-28T14:49:24.637178Z"'),
                    kv("langfuse.observation.output", answer)])
            elif kinds[s] != "event":
                span.attributes.extend([kv("langfuse.observation.output", '{"docs": ["keys/rotation.md"]}'),
                                        kv("langfuse.observation.metadata.index", '"docs"')])
            if s == 0:
                span.attributes.append(kv("langfuse.internal.is_app_root", True))
    return request.SerializeToString()


LUA = string.Template("""
local tpl = ""
local pool, pool_n, counter, stamp_char = {}, 0, 0, "x"
local threads, n = {}, 0
tid, acked, failed = 0, 0, 0
local digits = "0123456789abcdefghijklmnopqrstuvwxyz"
function setup(thread) n = n + 1; thread:set("tid", n); table.insert(threads, thread) end
function init(args)
  stamp_char = string.sub(args[1] or "x", 1, 1)
  local f = io.open("$body", "rb"); tpl = f:read("*a"); f:close()
  if $pooled then
    local p = io.open("$pool", "rb"); local data = p:read("*a"); p:close()
    local pos = 1
    while pos <= #data do
      local len = tonumber(string.sub(data, pos, pos + 9)); pos = pos + 10
      pool_n = pool_n + 1; pool[pool_n] = string.sub(data, pos, pos + len - 1); pos = pos + len
    end
  end
end
local function b36(v, width)
  local s = ""
  for _ = 1, width do local d = v % 36; s = string.sub(digits, d + 1, d + 1) .. s; v = (v - d) / 36 end
  return s
end
function request()
  counter = counter + 1
  local body
  if $pooled then
    body = pool[((counter * 7 + tid) % pool_n) + 1]
  else
    local stamp = stamp_char .. b36(tid, 1) .. b36(counter, 4)
    body = string.gsub(tpl, "@@@@@@", stamp)
  end
  return wrk.format("POST", "$path", {["Content-Type"] = "application/x-protobuf", $encoding
                    ["Authorization"] = "$auth"}, body)
end
function response(status, headers, body)
  if status == 200 and #body == 0 then acked = acked + 1 else failed = failed + 1 end
end
function done(summary, latency, requests)
  local a, f = 0, 0
  for _, t in ipairs(threads) do a = a + t:get("acked"); f = f + t:get("failed") end
  local e = summary.errors
  io.write(string.format('BENCH {"requests":%d,"us":%d,"p50":%d,"p99":%d,"acked":%d,"failed":%d,' ..
    '"socket_errors":%d}\\n', summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(99), a, f, e.connect + e.read + e.write + e.timeout))
end
""")


def write_lua(tmp: Path, args: argparse.Namespace) -> Path:
    body = tmp / "body.bin"
    body.write_bytes(build_request())
    pool = tmp / "pool.bin"
    if args.gzip:
        with pool.open("wb") as out:
            for i in range(args.gzip_pool):
                stamp = f"g{i:05x}".encode()[-6:].rjust(6, b"0")
                data = gzip.compress(build_request(stamp), compresslevel=6)
                out.write(f"{len(data):010d}".encode() + data)
    lua = tmp / "otlp.lua"
    lua.write_text(LUA.substitute(body=body, pool=pool, pooled="true" if args.gzip else "false", path=OTEL_PATH,
                                  auth=AUTH, encoding='["Content-Encoding"] = "gzip",' if args.gzip else ""))
    return lua


# -- (a) the ceiling app ---------------------------------------------------------------------------

def serve_ceiling(port: int) -> None:
    import uvloop
    from hypercorn.asyncio import serve
    from quart import Quart, request

    from langfuse_aio.runtime.server import hypercorn_config

    app = Quart("ceiling")
    app.config["MAX_CONTENT_LENGTH"] = 16 * 1024 * 1024

    @app.post(OTEL_PATH)
    async def export() -> tuple[bytes, int, dict[str, str]]:
        await request.get_data(cache=False)
        return b"", 200, {"Content-Type": "application/x-protobuf"}

    uvloop.run(serve(app, hypercorn_config(f"127.0.0.1:{port}")))  # type: ignore[arg-type]




def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def visible_spans(server: Server) -> int:
    r = httpx.get(server.url + "/api/public/observations", params={"limit": 1}, headers={"Authorization": AUTH},
                  timeout=120)
    r.raise_for_status()
    return int(r.json()["meta"]["totalItems"])


def catch_up(server: Server, expected: int, timeout: float) -> tuple[float, int]:
    """Seconds until `expected` spans are listed (or the timeout), and how many were."""
    start = time.monotonic()
    seen = 0
    while time.monotonic() - start < timeout:
        if server.queue() == (0, 0):
            seen = visible_spans(server)
            if seen >= expected:
                break
        time.sleep(0.25)
    return time.monotonic() - start, seen


def show(name: str, r: dict[str, float], extra: str = "") -> None:
    print(f"  {name}: {r['rps']:.0f} req/s = {r['spans_s']:.0f} acked spans/s, p50 {r['p50']:.1f} ms, "
          f"p99 {r['p99']:.1f} ms, failed {r['failed']:.0f}, wrk used {r['wrk_cpu']:.2f} cores{extra}")


def measure(url: str, lua: Path, args: argparse.Namespace, seconds: float, tag: str) -> dict[str, float]:
    r = wrk(url, lua, args, seconds, tag)
    r["spans_s"] = r["acked"] * SPANS / r["seconds"]
    return r


def one_run(args: argparse.Namespace, lua: Path, tmp: Path, run: int) -> dict[str, float]:
    print(f"\n== run {run}: {uptime()}")
    port = free_port()
    ceiling_proc = subprocess.Popen([sys.executable, __file__, "--serve-ceiling", str(port)])
    try:
        wait_accepting(f"http://127.0.0.1:{port}" + OTEL_PATH, ceiling_proc)
        measure(f"http://127.0.0.1:{port}", lua, args, args.warmup, f"w{run}")
        ceiling = measure(f"http://127.0.0.1:{port}", lua, args, args.seconds, f"c{run}")
    finally:
        ceiling_proc.terminate()
        ceiling_proc.wait()
    show("(a) ceiling, bare Quart+Hypercorn", ceiling)
    out = {"ceil_rps": ceiling["rps"], "ceil_spans_s": ceiling["spans_s"], "ceil_p99": ceiling["p99"]}
    server = Server(tmp / f"run{run}" / "data", dict(args.server_env))
    try:
        procs = server.processes()
        warm = measure(server.url, lua, args, args.warmup, "w")
        acked = int(warm["acked"]) * SPANS
        catch_up(server, acked, args.drain_timeout)
        cpu0, t0 = cpu_seconds(procs), time.monotonic()
        real = measure(server.url, lua, args, args.seconds, "r")
        real["server_cpu"] = (cpu_seconds(procs) - cpu0) / (time.monotonic() - t0)
        acked += int(real["acked"]) * SPANS
        backlog = sum(server.queue())
        seconds, seen = catch_up(server, acked, args.drain_timeout)
        real_spans = real["acked"] * SPANS
        real["catch_up"] = seconds
        real["e2e"] = real_spans / (real["seconds"] + seconds)
        real["ratio"] = real["rps"] / ceiling["rps"]
        show("(b) langfuse-aio --mode all", real, f", server {real['server_cpu']:.2f} cores")
        print(f"      {real['ratio']:.0%} of the ceiling; queue at stop {backlog} jobs; all {seen} of {acked} acked "
              f"spans listed {seconds:.1f} s after the load stopped -> {real['e2e']:.0f} spans/s to full visibility")
        out |= {f"real_{k}": v for k, v in real.items()}
    finally:
        server.stop()
    # (c) the web half alone: every job deferred by an hour, so the worker does not compete for the CPU
    server = Server(tmp / f"run{run}-web" / "data",
                    {**dict(args.server_env), "LANGFUSE_INGESTION_QUEUE_DELAY_MS": "3600000"})
    try:
        procs = server.processes()
        measure(server.url, lua, args, args.warmup, "w")
        cpu0, t0 = cpu_seconds(procs), time.monotonic()
        web = measure(server.url, lua, args, args.seconds, "r")
        web["server_cpu"] = (cpu_seconds(procs) - cpu0) / (time.monotonic() - t0)
        show("(c) web half alone (jobs deferred)", web, f", server {web['server_cpu']:.2f} cores")
        out |= {"web_spans_s": web["spans_s"], "web_p99": web["p99"], "web_server_cpu": web["server_cpu"]}
    finally:
        server.stop()
    print(f"   after run {run}: {uptime()}")
    return out


def table(results: list[dict[str, float]]) -> None:
    rows = [("(a) ceiling req/s", "ceil_rps", "0"), ("(a) ceiling spans/s", "ceil_spans_s", "0"),
            ("(b) acked spans/s (target 20000)", "real_spans_s", "0"), ("(b) p50 ms", "real_p50", "1"),
            ("(b) p99 ms", "real_p99", "1"), ("(b) ratio to ceiling", "real_ratio", "%"),
            ("(b) server cores", "real_server_cpu", "2"), ("(b) catch-up s", "real_catch_up", "1"),
            ("(b) spans/s to visible (target 10000)", "real_e2e", "0"),
            ("(c) web alone: acked spans/s", "web_spans_s", "0"), ("(c) web alone: p99 ms", "web_p99", "1"),
            ("(c) web alone: server cores", "web_server_cpu", "2")]
    print("\n" + " " * 40 + "".join(f"{'run ' + str(i):>10}" for i in range(1, len(results) + 1)))
    for label, key, fmt in rows:
        cells = [f"{r[key]:.0%}" if fmt == "%" else f"{r[key]:.{fmt}f}" for r in results]
        print(f"{label:<40}" + "".join(f"{c:>10}" for c in cells))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=15, help="wrk duration per measurement")
    p.add_argument("--warmup", type=float, default=3)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--wrk-threads", type=int, default=1)
    p.add_argument("--gzip", action="store_true", help="gzip bodies from a pool of prebuilt requests")
    p.add_argument("--gzip-pool", type=int, default=2000)
    p.add_argument("--drain-timeout", type=float, default=600)
    p.add_argument("--runs", type=int, default=2)
    add_server_env_option(p)
    p.add_argument("--tmp", metavar="DIR", help="where the data dir goes (default: the system temp dir); "
                   "/dev/shm takes the disk out of the measurement")
    p.add_argument("--serve-ceiling", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve_ceiling:
        serve_ceiling(args.serve_ceiling)
        return
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: `apt-get install -y wrk` (Debian package), then run again")
    print(f"{os.cpu_count()} cores; 100-span protobuf requests ({len(build_request())} bytes"
          f"{', gzip' if args.gzip else ''}); data dir under {args.tmp or tempfile.gettempdir()}")
    with tempfile.TemporaryDirectory(prefix="lfaio-otel-bench-", dir=args.tmp) as tmp:
        lua = write_lua(Path(tmp), args)
        results = [one_run(args, lua, Path(tmp), run) for run in range(1, args.runs + 1)]
    table(results)


if __name__ == "__main__":
    main()
