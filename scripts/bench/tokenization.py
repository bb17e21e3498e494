"""Tokenized generations per second through the worker: tokenizer pool versus inline, in one run.

    .venv/bin/python scripts/bench/tokenization.py [--generations 2000] [--processes 1,2] [--text-chars 2000]

One process opens the embedded stores in a fresh temporary data dir (as the tests do), accepts
`--generations` gpt-4o generations without usage (chat-message input of about `--text-chars`
characters, a shorter output) through the ingestion producer, then, for each mode, starts the real arq
worker and ClickHouse writer and times how long they take to merge, tokenize, price and write them all
(until every observation row has usage). Each mode ingests its own generations into its own project.
Modes:
- `pool-N`: the tokenizer process pool with N children (what the server runs);
- `thread`: LANGFUSE_AIO_TOKENIZER_PROCESSES=0, counting in a thread of the worker process;
- `inline`: counting directly on the event loop (what the pool exists to avoid), for comparison.
Also reported: the worst event-loop stall seen while the worker ran (a 10 ms ticker).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import random
import string
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from langfuse_aio.jobs.worker import build_worker, run_until_stopped  # noqa: E402
from langfuse_aio.runtime.resources import Resources, open_resources  # noqa: E402
from langfuse_aio.services.ingestion import IngestionProducer  # noqa: E402
from langfuse_aio.services.provisioning import ensure_organization, ensure_project  # noqa: E402
from langfuse_aio.settings import load_settings  # noqa: E402
from langfuse_aio.storage.clickhouse.writer import ClickHouseWriter  # noqa: E402
from langfuse_aio.tokenization.pool import TokenizerPool  # noqa: E402

T = TypeVar("T")
WORDS = ["model", "token", "price", "the", "of", "observation", "latency", "Übersicht", "数据", "cost", "🙂",
         "generation", "trace", "1234", "span", "and", "with", "async", "pool", "json"]


class InlineOnLoop(TokenizerPool):
    """Counts on the event loop itself: the baseline the pool is compared with."""

    async def run(self, fn: Any, *args: Any) -> Any:
        if not self._inline_ready:
            from langfuse_aio.tokenization.encodings import prepare_offline

            prepare_offline(self._cache_dir)
            self._inline_ready = True
        return fn(*args)


def text(rng: random.Random, chars: int) -> str:
    out: list[str] = []
    size = 0
    while size < chars:
        word = rng.choice(WORDS) if rng.random() < 0.8 else "".join(rng.choices(string.ascii_letters, k=7))
        out.append(word)
        size += len(word) + 1
    return " ".join(out)


def events(rng: random.Random, n: int, chars: int) -> list[dict[str, Any]]:
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    batch = []
    for _ in range(n):
        trace_id, obs_id = str(uuid.uuid4()), str(uuid.uuid4())
        messages = [{"role": "system", "content": text(rng, chars // 4)},
                    {"role": "user", "content": text(rng, chars * 3 // 4)}]
        batch.append({"id": str(uuid.uuid4()), "type": "generation-create", "timestamp": now, "body": {
            "id": obs_id, "traceId": trace_id, "name": "llm", "startTime": now, "model": "gpt-4o",
            "input": messages, "output": text(rng, chars // 4)}})
    return batch


async def tokenized(res: Resources, project_id: str) -> int:
    rows = await res.clickhouse.query(
        "SELECT count() AS n FROM (SELECT id, argMax(usage_details, event_ts) AS u FROM observations "
        "WHERE project_id = {p:String} GROUP BY id) WHERE mapContains(u, 'input')", {"p": project_id})
    return int(rows[0]["n"])


async def one_mode(res: Resources, name: str, tokenizer: TokenizerPool, args: argparse.Namespace) -> dict[str, Any]:
    project_id = f"bench-{name}-{uuid.uuid4().hex[:6]}"
    async with res.pg.connection() as conn:
        await ensure_organization(conn, "bench-org", "bench")
        await ensure_project(conn, project_id, "bench-org", name)
    producer = IngestionProducer(blob=res.blob, redis=res.redis, prefix=res.settings.s3.prefix, delay_ms=0)
    rng = random.Random(7)
    for start in range(0, args.generations, 50):
        await producer.submit(project_id, events(rng, min(50, args.generations - start), args.text_chars))
    await tokenizer.count("openai", {"tokenizerModel": "gpt-4o"}, "warm up", None)  # start-up is not timed
    writer = ClickHouseWriter(res.clickhouse, interval_seconds=0.05)
    await writer.start()
    worker = build_worker(dataclasses.replace(res, tokenizer=tokenizer), writer)
    stop = asyncio.Event()
    stalls: list[float] = []

    async def ticker() -> None:
        while not stop.is_set():
            before = time.monotonic()
            await asyncio.sleep(0.01)
            stalls.append(time.monotonic() - before - 0.01)

    started = time.monotonic()
    tasks = [asyncio.create_task(run_until_stopped(worker, stop, grace_seconds=5)), asyncio.create_task(ticker())]
    done = 0
    while done < args.generations and time.monotonic() - started < args.timeout:
        await asyncio.sleep(0.25)
        done = await tokenized(res, project_id)
    seconds = time.monotonic() - started
    stop.set()
    await asyncio.gather(*tasks)
    await writer.close()
    await tokenizer.close()
    return {"mode": name, "generations": done, "seconds": round(seconds, 2),
            "per_second": round(done / seconds, 1), "max_loop_stall_ms": round(max(stalls or [0]) * 1000, 1)}


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="lfaio-bench-tok-") as tmp:
        settings = load_settings({"LANGFUSE_AIO_DATA_DIR": tmp, "LANGFUSE_LOG_LEVEL": "warn"})
        cache = Path(tmp) / "tiktoken"
        async with open_resources(settings) as res:
            modes: list[tuple[str, TokenizerPool]] = [
                (f"pool-{n}", TokenizerPool(processes=n, cache_dir=cache)) for n in args.processes]
            modes += [("thread", TokenizerPool(processes=0, cache_dir=cache)),
                      ("inline", InlineOnLoop(processes=0, cache_dir=cache))]
            results = [await one_mode(res, name, tokenizer, args) for name, tokenizer in modes]
    print(json.dumps({"generations": args.generations, "text_chars": args.text_chars, "results": results},
                     indent=1))
    print(f"\n{'mode':<8} {'gen/s':>8} {'seconds':>8} {'max loop stall ms':>18}")
    for r in results:
        print(f"{r['mode']:<8} {r['per_second']:>8} {r['seconds']:>8} {r['max_loop_stall_ms']:>18}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generations", type=int, default=2000)
    parser.add_argument("--text-chars", type=int, default=2000)
    parser.add_argument("--processes", type=lambda v: [int(x) for x in v.split(",")], default=[1, 2])
    parser.add_argument("--timeout", type=float, default=300)
    asyncio.run(main(parser.parse_args()))
