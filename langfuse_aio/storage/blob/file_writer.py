"""A child process that writes the local blob store's rebuildable files, so their syscalls leave the loop.

The worker copies every accepted request into Langfuse's per-entity layout: a directory and a file
per entity, about 90 us of mkdir/open/write/rename each on ext4. On the loop that was ~40 % of a
busy worker's main thread; from threads, each syscall had to win the GIL back from that loop. A
child process does them with its own interpreter: the loop only pickles one list per job.

Only non-durable batches come here (their durable source, the request file, is already on disk),
so a child that dies costs nothing but a retry: the executor is replaced and the batch written once
more; should that fail too, it is written in this process. `processes=0` writes in this process
(no child), for tiny deployments. Created and closed by `runtime.resources` only; the child is
started on first use, so a process that never fans out (`--mode web`) never starts one.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import structlog

from langfuse_aio.runtime.orphan_guard import watch_parent

log = structlog.get_logger(__name__)

Items = Sequence[tuple[str, bytes]]
WriteBatch = Callable[[str, list[tuple[str, bytes]]], None]


class FileWriterProcess:
    def __init__(self, *, processes: int = 1) -> None:
        if processes < 0:
            raise ValueError("processes must be >= 0")
        self.processes = processes
        self._executor: ProcessPoolExecutor | None = None
        self._closed = False
        self.replacements = 0

    def _current(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(max_workers=self.processes,
                                                 mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=watch_parent, initargs=(os.getpid(),))
        return self._executor

    async def write(self, fn: WriteBatch, root: str, items: Items) -> bool:
        """Run `fn(root, items)` in the child; False when there is no child to run it (closed, or
        `processes=0`, or it broke twice), and the caller writes the batch itself. OSError from the
        child's writes propagates."""
        if self._closed or self.processes == 0:
            return False
        batch = list(items)
        for _ in range(2):
            executor = self._current()
            try:
                await asyncio.wrap_future(executor.submit(fn, root, batch))
                return True
            except (BrokenProcessPool, RuntimeError) as exc:  # RuntimeError: submit after shutdown
                self._replace(executor, f"{type(exc).__name__}: {exc}")
        return False

    def _replace(self, executor: ProcessPoolExecutor, reason: str) -> None:
        if self._executor is executor:
            self._executor = None
            self.replacements += 1
            log.warning("blob_file_writer_replaced", reason=reason)
        executor.shutdown(wait=False, cancel_futures=True)

    async def close(self) -> None:
        self._closed = True
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)
