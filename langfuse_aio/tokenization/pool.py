"""The tokenizer pool: token counting off the event loop, bounded in time and size, surviving crashes.

`TokenizerPool(processes=N)` runs `counting.count_pair` in the N children of a `ChildPool`
(runtime/child_pool.py: spawned, replaced when they die, gone when the server dies). Each child
seeds the offline encodings once (`encodings.prepare_offline`) and keeps its encoders.
- Size cap: a text longer than `max_chars` is cut to its first `max_chars` characters before it is sent
  to a child, and the count is scaled by the cut ratio and flagged `estimated`. So a 5 MB input costs
  a bounded amount of work instead of stalling the pool.
- Timeout: a call not answered within `timeout_seconds` gives no count; the pool is replaced (its
  children killed), since the busy child cannot be interrupted otherwise.
- Crashes: a child that dies is replaced and the affected call runs once more on the new one, then
  the pool gives up on it.
- `processes=0` counts in a thread of this process instead: no isolation, no enforced timeout; for
  tiny deployments and for comparison.
The pool is created and closed by `runtime.resources` only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import structlog

from langfuse_aio.runtime.child_pool import ChildPool, ChildPoolUnavailable
from langfuse_aio.tokenization import counting, encodings

log = structlog.get_logger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class TokenCount:
    input: int | None
    output: int | None
    estimated: bool = False  # a text was longer than max_chars: its count is scaled from a prefix


class TokenizerUnavailable(Exception):
    """The call timed out or crashed its child twice, or the pool is closed."""


class TokenizerPool:
    def __init__(self, *, processes: int, cache_dir: Path, timeout_seconds: float = 10.0,
                 max_chars: int = 500_000) -> None:
        if processes < 0 or max_chars < 1 or timeout_seconds <= 0:
            raise ValueError("processes must be >= 0, max_chars >= 1 and timeout_seconds > 0")
        self.processes = processes
        self._cache_dir = str(cache_dir)
        self._max_chars = max_chars
        self._children = ChildPool("tokenizer", processes=processes, initializer=encodings.prepare_offline,
                                   initargs=(self._cache_dir,), timeout_seconds=timeout_seconds)
        self._inline_ready = False
        self._closed = False

    @property
    def replacements(self) -> int:
        return self._children.replacements

    async def close(self) -> None:
        self._closed = True
        await self._children.close()

    # --- calls -------------------------------------------------------------------------------

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in a child (picklable function and arguments); TokenizerUnavailable on timeout
        or when the call broke the pool twice."""
        if self._closed:
            raise TokenizerUnavailable("the tokenizer pool is closed")
        if self.processes == 0:
            return await self._run_inline(fn, *args)
        try:
            return await self._children.run(fn, *args)
        except ChildPoolUnavailable as exc:
            raise TokenizerUnavailable(str(exc)) from exc

    async def _run_inline(self, fn: Callable[..., T], *args: Any) -> T:
        if not self._inline_ready:
            await asyncio.to_thread(encodings.prepare_offline, self._cache_dir)
            self._inline_ready = True
        return await asyncio.to_thread(fn, *args)

    def _cap(self, text: str | None) -> tuple[str | None, float]:
        if text is None or len(text) <= self._max_chars:
            return text, 1.0
        return text[: self._max_chars], len(text) / self._max_chars

    async def count_many(self, requests: Sequence[counting.Request]) -> list[TokenCount | None]:
        """Counts of many observations (tokenizer id, config, input, output): the requests are split
        into at most `processes` batches, one call each, so children work in parallel and each
        observation does not cost a round trip. A batch whose call fails gives None for each of its
        requests (logged)."""
        if not requests:
            return []
        texts = [(self._cap(text_in), self._cap(text_out)) for _, _, text_in, text_out in requests]
        n_batches = max(1, min(self.processes, len(requests)))
        batches = [list(range(first, len(requests), n_batches)) for first in range(n_batches)]

        async def one(indexes: list[int]) -> list[tuple[int | None, ...]] | None:
            batch = [(requests[i][0], requests[i][1], texts[i][0][0], texts[i][1][0]) for i in indexes]
            try:
                return await self.run(counting.count_batch, batch)
            except TokenizerUnavailable as exc:
                log.warning("tokenization_batch_failed", observations=len(indexes), error=str(exc))
                return None

        results: list[TokenCount | None] = [None] * len(requests)
        for indexes, counted in zip(batches, await asyncio.gather(*(one(b) for b in batches)), strict=True):
            for i, (count_in, count_out) in zip(indexes, counted or [], strict=False):
                (_, scale_in), (_, scale_out) = texts[i]
                results[i] = TokenCount(_scaled(count_in, scale_in), _scaled(count_out, scale_out),
                                        scale_in > 1 or scale_out > 1)
        return results

    async def count(self, tokenizer_id: str | None, config: Any, input_text: str | None,
                    output_text: str | None) -> TokenCount:
        """Token counts of an observation's input and output (see `counting`); raises
        TokenizerUnavailable when the pool could not answer."""
        (capped_in, scale_in), (capped_out, scale_out) = self._cap(input_text), self._cap(output_text)
        started = time.monotonic()
        counted = await self.run(counting.count_pair, tokenizer_id, config, (capped_in, capped_out))
        estimated = scale_in > 1 or scale_out > 1
        if estimated:
            log.info("tokenization_capped", max_chars=self._max_chars, input_chars=len(input_text or ""),
                     output_chars=len(output_text or ""), seconds=round(time.monotonic() - started, 3))
        return TokenCount(_scaled(counted[0], scale_in), _scaled(counted[1], scale_out), estimated)


def _scaled(count: int | None, scale: float) -> int | None:
    return count if count is None or scale == 1.0 else round(count * scale)
