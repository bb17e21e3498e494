"""Child processes for CPU or syscall-heavy work that must not hold the event loop's thread (and GIL).

`ChildPool(name, processes=N)` runs picklable module-level functions in N children of a
`ProcessPoolExecutor` started with `spawn` (no inherited locks, sockets or loops), started on the
first call, so a process that never needs one never starts it. Three users:
- the local blob store's per-entity copies (storage/blob/localfs.py): ~90 us of mkdir/open/write/
  rename each, ~40 % of a busy worker's loop when written there;
- OTLP decoding and span conversion (web/otlp_decoding.py): ~7 ms of Python per 100-span request;
- token counting (tokenization/pool.py), whose children load the encodings once (`initializer`)
  and whose calls are bounded in time (`timeout_seconds`).

An exception raised by the function comes back as itself. A child that dies (a crash, the OOM
killer) breaks the executor: it is replaced and the call runs once more on a new child; should
that break too, or when the pool is closed or has `processes=0`, the call raises
`ChildPoolUnavailable` and the caller decides (write in-process, or answer an error). A call not
answered within `timeout_seconds` (when set) raises `ChildPoolTimeout` and the pool is replaced,
its children killed: a busy child cannot be interrupted otherwise. Children exit by themselves when
the server dies without closing the pool (runtime/orphan_guard.py). Created and closed by
`runtime.resources` only.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

import structlog

from langfuse_aio.runtime.orphan_guard import watch_parent

log = structlog.get_logger(__name__)
T = TypeVar("T")


class ChildPoolUnavailable(Exception):
    """No child can run the call: `processes=0`, the pool is closed, or the call broke two children."""


class ChildPoolTimeout(ChildPoolUnavailable):
    """The call was not answered within the pool's timeout; the pool's children were killed."""


def _init_child(parent_pid: int, initializer: Callable[..., None] | None, initargs: Sequence[Any]) -> None:
    watch_parent(parent_pid)  # exit if the server dies without closing the pool
    if initializer is not None:
        initializer(*initargs)


def _kill(executor: ProcessPoolExecutor) -> None:
    processes = getattr(executor, "_processes", None) or {}
    for process in list(processes.values()):
        with contextlib.suppress(Exception):
            process.kill()
    executor.shutdown(wait=True, cancel_futures=True)


class ChildPool:
    def __init__(self, name: str, *, processes: int, initializer: Callable[..., None] | None = None,
                 initargs: Sequence[Any] = (), timeout_seconds: float | None = None) -> None:
        if processes < 0 or (timeout_seconds is not None and timeout_seconds <= 0):
            raise ValueError("processes must be >= 0 and timeout_seconds > 0")
        self.name = name
        self.processes = processes
        self._initializer = initializer
        self._initargs = tuple(initargs)
        self._timeout = timeout_seconds
        self._executor: ProcessPoolExecutor | None = None
        self._retiring: set[asyncio.Future[None]] = set()
        self._closed = False
        self.replacements = 0

    def _current(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=self.processes, mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_child, initargs=(os.getpid(), self._initializer, self._initargs))
        return self._executor

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed or self.processes == 0:
            raise ChildPoolUnavailable(f"the {self.name} pool has no child processes")
        for _ in range(2):
            executor = self._current()
            try:
                future: Future[T] = executor.submit(fn, *args)
            except (BrokenProcessPool, RuntimeError) as exc:  # RuntimeError: submit after shutdown
                self._replace(executor, f"{type(exc).__name__}: {exc}")
                continue
            try:
                return await asyncio.wait_for(asyncio.wrap_future(future), self._timeout)
            except BrokenProcessPool as exc:
                self._replace(executor, f"{type(exc).__name__}: {exc}")
            except TimeoutError as exc:
                self._replace(executor, "timeout", kill=True)
                raise ChildPoolTimeout(f"no answer from the {self.name} pool within {self._timeout} s") from exc
        raise ChildPoolUnavailable(f"a {self.name} child process died twice on this call")

    def _replace(self, executor: ProcessPoolExecutor, reason: str, *, kill: bool = False) -> None:
        if self._executor is executor:
            self._executor = None
            self.replacements += 1
            log.warning("child_pool_replaced", pool=self.name, reason=reason)
        if not kill:
            executor.shutdown(wait=False, cancel_futures=True)
            return
        retiring = asyncio.get_running_loop().run_in_executor(None, _kill, executor)
        self._retiring.add(retiring)
        retiring.add_done_callback(self._retiring.discard)

    async def close(self) -> None:
        self._closed = True
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)
        if self._retiring:
            await asyncio.gather(*self._retiring, return_exceptions=True)
