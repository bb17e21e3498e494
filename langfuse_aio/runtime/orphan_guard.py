"""Child processes of our process pools exit when the server dies without closing them.

A `ProcessPoolExecutor` child started with `spawn` blocks on its call queue, whose pipe it also
holds open for writing, so it never sees EOF when the server is killed (SIGKILL, OOM killer): it
would live on as an orphan. `watch_parent` (a pool initializer) starts a daemon thread that exits
the child once it has been re-parented.
"""

from __future__ import annotations

import os
import threading
import time

CHECK_SECONDS = 0.5


def _watch(parent_pid: int, interval: float) -> None:
    while True:
        time.sleep(interval)
        if os.getppid() != parent_pid:
            os._exit(0)  # no cleanup: the parent is gone, and nothing here is worth flushing


def watch_parent(parent_pid: int, interval: float = CHECK_SECONDS) -> None:
    if os.getppid() != parent_pid:
        os._exit(0)
    threading.Thread(target=_watch, args=(parent_pid, interval), name="orphan-guard", daemon=True).start()
