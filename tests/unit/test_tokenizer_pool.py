"""The tokenizer process pool: real child processes, crashes, timeouts and oversized input."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from langfuse_aio.tokenization.pool import TokenizerPool, TokenizerUnavailable

GPT4O = {"tokenizerModel": "gpt-4o", "tokensPerMessage": 3, "tokensPerName": 1}


@pytest.fixture
async def pool(tmp_path: Path) -> AsyncIterator[TokenizerPool]:
    tokenizer = TokenizerPool(processes=1, cache_dir=tmp_path / "tiktoken", timeout_seconds=20, max_chars=200_000)
    yield tokenizer
    await tokenizer.close()


async def test_counts_in_a_child_process(pool: TokenizerPool) -> None:
    counted = await pool.count("openai", GPT4O, '[{"role": "user", "content": "hello"}]', "Hi there")
    assert (counted.input, counted.output, counted.estimated) == (8, 2, False)
    assert await pool.run(os.getpid) != os.getpid()


async def test_the_pool_survives_a_crashing_child(pool: TokenizerPool) -> None:
    first_child = await pool.run(os.getpid)
    with pytest.raises(TokenizerUnavailable, match="died twice"):
        await pool.run(os._exit, 3)  # the child dies mid-call, twice (once more after the replacement)
    assert pool.replacements == 2
    counted = await pool.count("claude", None, "hello world", None)
    assert counted.input is not None and counted.input > 0 and counted.output is None
    assert await pool.run(os.getpid) not in (first_child, os.getpid())


async def test_a_hung_call_times_out_and_the_pool_is_replaced(tmp_path: Path) -> None:
    pool = TokenizerPool(processes=1, cache_dir=tmp_path, timeout_seconds=1.0)
    try:
        await pool.run(os.getpid)  # start-up is not part of the timeout under test
        started = time.monotonic()
        with pytest.raises(TokenizerUnavailable, match="no answer"):
            await pool.run(time.sleep, 30)
        assert time.monotonic() - started < 5
        assert (await pool.count("openai", GPT4O, "still works", None)).input == 2
    finally:
        await pool.close()


async def test_a_5_mb_input_is_capped_without_stalling_other_work(pool: TokenizerPool) -> None:
    await pool.count("openai", GPT4O, "warm up", None)
    huge = "lorem ipsum dolor sit amet " * 200_000  # 5.4 MB
    lags: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:  # the event loop keeps serving other work meanwhile
        while not done.is_set():
            before = time.monotonic()
            await asyncio.sleep(0.01)
            lags.append(time.monotonic() - before - 0.01)

    ticking = asyncio.create_task(ticker())
    started = time.monotonic()
    big, small = await asyncio.gather(pool.count("openai", GPT4O, huge, None),
                                      pool.count("openai", GPT4O, "a small one", "reply"))
    elapsed = time.monotonic() - started
    done.set()
    await ticking
    assert big.estimated and not small.estimated
    assert (small.input, small.output) == (3, 1)
    exact = 5 * 200_000 + 1  # every "lorem ipsum dolor sit amet " is 5 tokens in o200k
    assert big.input is not None and abs(big.input - exact) / exact < 0.01
    assert elapsed < 10
    assert max(lags) < 0.5, f"the event loop stalled for {max(lags):.2f} s"


async def test_inline_mode_counts_in_a_thread(tmp_path: Path) -> None:
    pool = TokenizerPool(processes=0, cache_dir=tmp_path, max_chars=10)
    try:
        assert await pool.run(os.getpid) == os.getpid()
        counted = await pool.count("openai", {"tokenizerModel": "gpt-4"}, "one two three four five six", None)
        assert counted.estimated and counted.input is not None and counted.input > 3
    finally:
        await pool.close()


async def test_many_observations_are_counted_in_one_call_per_child(pool: TokenizerPool) -> None:
    requests = [("openai", GPT4O, f"text number {i}", None) for i in range(40)]
    requests.append(("claude", None, "x" * 300_000, "short"))  # capped: estimated
    requests.append(("gemini", None, "no tokenizer", None))
    counted = await pool.count_many(requests)
    singles = [await pool.count(*request) for request in requests[:40]]
    assert counted[:40] == singles and all(c.input for c in singles)
    big, none = counted[40], counted[41]
    assert big is not None and big.estimated and big.input is not None and big.input > 0
    assert none is not None and (none.input, none.output) == (None, None)
    assert await pool.count_many([]) == []
