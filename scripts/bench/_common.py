"""Helpers of the benchmark scripts: the server on embedded stores (its CPU, its queue), SDK-like
batches of 50 events built in Python or in wrk's Lua, and a wrk runner."""

from __future__ import annotations

import base64
import json
import os
import resource
import signal
import socket
import string
import subprocess
import sys
import time
from argparse import ArgumentParser, Namespace
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil
import redis

from langfuse_aio.jobs.background_migrations import CHECK_BACKGROUND_MIGRATIONS

ROOT = Path(__file__).resolve().parents[2]
STORE_VARS = ("DATABASE_URL", "CLICKHOUSE_URL", "REDIS_CONNECTION_STRING", "REDIS_HOST",
              "LANGFUSE_S3_EVENT_UPLOAD_BUCKET", "SALT")
PUBLIC_KEY, SECRET_KEY, PROJECT_ID = "pk-lf-bench", "sk-lf-bench", "bench"
INIT = {
    "LANGFUSE_INIT_ORG_ID": "bench-org", "LANGFUSE_INIT_PROJECT_ID": PROJECT_ID,
    "LANGFUSE_INIT_PROJECT_PUBLIC_KEY": PUBLIC_KEY, "LANGFUSE_INIT_PROJECT_SECRET_KEY": SECRET_KEY,
}
AUTH = "Basic " + base64.b64encode(f"{PUBLIC_KEY}:{SECRET_KEY}".encode()).decode()
QUEUE = "langfuse-aio:queue"  # langfuse_aio.jobs.definitions.QUEUE_NAME


def add_server_env_option(parser: ArgumentParser) -> None:
    """`--server-env NAME=VALUE` (repeatable): settings for the benchmarked server, to compare two."""
    parser.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                        type=lambda v: tuple(v.split("=", 1)),
                        help="a setting for the server (repeatable), e.g. LANGFUSE_AIO_BLOB_WRITER_PROCESSES=0")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited during start (code {proc.returncode})")
        try:
            if httpx.get(url + "/api/public/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} not healthy after {timeout:.0f} s")


CRON_IN_PROGRESS = f"arq:in-progress:{CHECK_BACKGROUND_MIGRATIONS}".encode()


class Server:
    """`langfuse-aio --mode all` on embedded stores in a fresh data dir, with a bench project."""

    def __init__(self, data_dir: Path, extra_env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if k not in STORE_VARS and not k.startswith("LANGFUSE_")}
        env.update(LANGFUSE_AIO_DATA_DIR=str(data_dir), PORT=str(self.port), HOSTNAME="127.0.0.1",
                   LANGFUSE_LOG_FORMAT="json", **INIT, **(extra_env or {}))
        data_dir.mkdir(parents=True, exist_ok=True)
        self._log = (data_dir.parent / "server.log").open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "langfuse_aio.cli", "--mode", "all"], env=env,
                                     cwd=ROOT, stdout=subprocess.DEVNULL, stderr=self._log)
        wait_healthy(self.url, self.proc)
        self._redis: redis.Redis | None = None

    def processes(self) -> list[psutil.Process]:
        """The server, its children and the daemonized embedded services (found by their data dir)."""
        found = {self.proc.pid: psutil.Process(self.proc.pid)}
        for p in psutil.process_iter(["cmdline"]):
            if str(self.data_dir) in " ".join(p.info["cmdline"] or []):
                found[p.pid] = p
        for p in list(found.values()):
            for child in p.children(recursive=True):
                found[child.pid] = child
        return list(found.values())

    def queue(self) -> tuple[int, int]:
        """(jobs waiting or deferred, jobs running), read from the embedded Valkey."""
        if self._redis is None:
            sock = next(self.data_dir.rglob("valkey.sock"))
            self._redis = redis.Redis(unix_socket_path=str(sock))
        waiting = int(self._redis.zcard(QUEUE))
        running = sum(1 for key in self._redis.scan_iter(match="arq:in-progress:*", count=1000)
                      if not key.startswith(CRON_IN_PROGRESS))  # arq keeps a cron job's key for a minute
        return waiting, running

    def stop(self) -> None:
        if self._redis is not None:
            self._redis.close()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


def wait_accepting(url: str, proc: subprocess.Popen[bytes]) -> None:
    """Until a POST to `url` gets any HTTP answer (the ceiling apps have no health route)."""
    for _ in range(400):
        try:
            httpx.post(url, content=b"", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise SystemExit(f"ceiling app did not start (exit code {proc.poll()})")


def cpu_seconds(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system
    return total


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


# -- SDK-like batches, from Python and from wrk's Lua ------------------------------------------------

EVENTS_PER_TRACE, TRACES_PER_BATCH = 10, 5
PATH = "/api/public/ingestion"
_T = [
    ("trace-create", {"id": "@T@", "name": "chat-request", "userId": "user-@S@", "sessionId": "sess-@S@",
                      "timestamp": "@TS@", "release": "1.4.2", "tags": ["bench", "chat"],
                      "input": {"messages": [{"role": "user", "content": "How do I rotate an API key without "
                                                                         "downtime? Explain step by step."}]},
                      "metadata": {"tenant": "acme", "region": "eu-west-1", "feature_flags": ["a", "b"]}}),
    ("span-create", {"id": "@T@-s", "traceId": "@T@", "name": "retrieve", "startTime": "@TS@",
                     "input": {"query": "rotate api key without downtime", "k": 4}, "metadata": {"index": "docs"}}),
    ("generation-create", {"id": "@T@-g1", "traceId": "@T@", "parentObservationId": "@T@-s", "name": "rerank",
                           "model": "gpt-4o-mini", "startTime": "@TS@", "modelParameters": {"temperature": 0},
                           "input": [{"role": "system", "content": "Rank the passages by relevance."},
                                     {"role": "user", "content": "passage 1 ... passage 4"}]}),
    ("generation-update", {"id": "@T@-g1", "traceId": "@T@", "endTime": "@TS@", "output": {"ranking": [2, 0, 3, 1]},
                           "usageDetails": {"input": 412, "output": 9, "total": 421}}),
    ("span-update", {"id": "@T@-s", "traceId": "@T@", "endTime": "@TS@",
                     "output": {"docs": ["keys/rotation.md", "keys/scopes.md", "auth/basic.md"]}}),
    ("generation-create", {"id": "@T@-g2", "traceId": "@T@", "name": "answer", "model": "gpt-4o",
                           "startTime": "@TS@", "completionStartTime": "@TS@",
                           "modelParameters": {"temperature": 0.2, "max_tokens": 512},
                           "input": [{"role": "system", "content": "You answer questions about our product "
                                                                   "using only the given documents."},
                                     {"role": "user", "content": "How do I rotate an API key without downtime?"}]}),
    ("generation-update", {"id": "@T@-g2", "traceId": "@T@", "endTime": "@TS@",
                           "output": {"role": "assistant", "content": "Create a second key, deploy it, then "
                                      "revoke the first one once no request uses it any more."},
                           "usageDetails": {"input": 1234, "output": 87, "total": 1321}}),
    ("trace-create", {"id": "@T@", "output": {"answer": "Create a second key, deploy it, revoke the first."},
                      "metadata": {"latency_ms": 812}}),
    ("score-create", {"id": "@T@-q", "traceId": "@T@", "name": "helpfulness", "value": 0.87, "dataType": "NUMERIC"}),
    ("score-create", {"id": "@T@-c", "traceId": "@T@", "observationId": "@T@-g2", "name": "tone",
                      "value": "neutral", "dataType": "CATEGORICAL"}),
]
TEMPLATE = ",".join(json.dumps({"id": f"@T@-e{n}", "type": t, "timestamp": "@TS@", "body": b}, separators=(",", ":"))
                    for n, (t, b) in enumerate(_T))
METADATA = '{"batch_size":50,"sdk_name":"python","sdk_version":"2.60.10","sdk_integration":"bench"}'

LUA = string.Template("""
local tpl = [==[$tpl]==]
local prefix, ts, counter = "x", "", 0
local threads, n = {}, 0
tid, acked, failed = 0, 0, 0  -- globals: setup() sets tid, done() reads the counters per thread
function setup(thread) n = n + 1; thread:set("tid", n); table.insert(threads, thread) end
function init(args) prefix = args[1]; ts = args[2] end
function request()
  counter = counter + 1
  local parts = {}
  for t = 1, $traces do
    local id = string.format("%s-%d-%d-%d", prefix, tid, counter, t)
    parts[t] = string.gsub(tpl, "@(%u+)@", {T = id, TS = ts, S = tostring(counter % 50)})
  end
  local body = '{"batch":[' .. table.concat(parts, ",") .. '],"metadata":$meta}'
  return wrk.format("POST", "$path", {["Content-Type"] = "application/json",
                    ["Authorization"] = "$auth"}, body)
end
function response(status, headers, body)
  if status == 207 and string.find(body, '"errors":[]', 1, true) then acked = acked + 1 else failed = failed + 1 end
end
function done(summary, latency, requests)
  local a, f = 0, 0
  for _, t in ipairs(threads) do a = a + t:get("acked"); f = f + t:get("failed") end
  local e = summary.errors
  io.write(string.format('BENCH {"requests":%d,"us":%d,"p50":%d,"p99":%d,"acked":%d,"failed":%d,' ..
    '"socket_errors":%d}\\n', summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(99), a, f, e.connect + e.read + e.write + e.timeout))
end
""").substitute(tpl=TEMPLATE, traces=TRACES_PER_BATCH, meta=METADATA, path=PATH, auth=AUTH)


def batch_body(trace_ids: list[str], ts: str, session: int) -> bytes:
    parts = [TEMPLATE.replace("@TS@", ts).replace("@S@", str(session)).replace("@T@", t) for t in trace_ids]
    return ('{"batch":[' + ",".join(parts) + '],"metadata":' + METADATA + "}").encode()


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def wrk(url: str, lua: Path, args: Namespace, seconds: float, tag: str) -> dict[str, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(["wrk", f"-t{args.wrk_threads}", f"-c{args.connections}", f"-d{seconds:.0f}s",
                          "--timeout", "10s", "-s", str(lua), url + PATH, "--", tag, now_iso()],
                         capture_output=True, text=True, check=True).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next(x for x in out.splitlines() if x.startswith("BENCH "))
    r = json.loads(line[6:])
    secs = r["us"] / 1e6
    return {"rps": r["requests"] / secs, "acked_rps": r["acked"] / secs, "ev_s": r["acked"] * 50 / secs,
            "p50": r["p50"] / 1000, "p99": r["p99"] / 1000, "acked": r["acked"],
            "failed": r["failed"] + r["socket_errors"], "seconds": secs,
            "wrk_cpu": (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / secs}
