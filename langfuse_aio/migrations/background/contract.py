"""What a background migration is, as the manager sees it (Langfuse's IBackgroundMigration, in Python).

A migration is looked up by its `script` name (the column of `background_migrations`), validated,
then run until it returns (finished) or raises (failed). It saves its progress through a StateStore
so a restarted process resumes it, and checks `abort` between batches: the manager sets it on
shutdown, and a run that returns because of it is not marked finished.

State keys every migration writes (so `langfuse-aio migrations status` can show progress):
  rowsDone     rows handled so far in this run and earlier runs of it (int)
  rowsTotal    the estimate of all rows it will handle, taken when it first started (int, optional)
  startedAt    ISO-8601 UTC time the first run began
  updatedAt    ISO-8601 UTC time of the last saved batch
Copy migrations also keep Langfuse's `maxDate` (ISO-8601 UTC) beside their own composite cursor.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from psycopg_pool import AsyncConnectionPool

from langfuse_aio.settings import Settings
from langfuse_aio.storage.clickhouse.base import ClickHouse

State = dict[str, Any]


class StateStore(Protocol):
    async def load(self) -> State:
        """The migration row's `state` as saved last (an empty dict when never saved)."""

    async def save(self, updates: Mapping[str, Any]) -> None:
        """Merge `updates` into the row's `state` (keys not named are kept), atomically."""


@dataclass(frozen=True)
class MigrationContext:
    settings: Settings
    pg: AsyncConnectionPool[Any]
    clickhouse: ClickHouse


class BackgroundMigration(Protocol):
    async def validate(self, args: Mapping[str, Any]) -> str | None:
        """None when the migration can run with `args`, else the reason it cannot (recorded as failed)."""

    async def run(self, args: Mapping[str, Any], state: StateStore, abort: asyncio.Event) -> None:
        """Do the work in batches, saving progress after each; return when done or when `abort` is set.

        Raise to fail the migration (the manager records the message as failed_reason)."""
