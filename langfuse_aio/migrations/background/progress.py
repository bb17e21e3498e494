"""Progress of one migration in `background_migrations.state`, and reading its `args`.

Keys (contract.py): `maxDate` (ISO-8601 UTC, Langfuse's cursor, kept so an upstream worker and ours
read the same row), `cursorId` (our tie-breaker: rows are handled in (date, id) order, and the next
batch starts strictly below (maxDate, cursorId); absent means "everything at maxDate and older"),
`rowsDone`, `rowsTotal`, `startedAt`, `updatedAt`. The observations copy may run under a
`stateSuffix`: then every key carries it, so differently suffixed runs share the row without
touching each other's progress.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from langfuse_aio.migrations.background.contract import StateStore


def int_arg(args: Mapping[str, Any], name: str, default: int | None) -> int | None:
    """A positive integer argument (an int or a numeric string, as operators edit `args` by hand)."""
    value = args.get(name)
    if value is None:
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"args.{name} must be a positive integer, not {value!r}") from None
    if isinstance(value, bool) or number <= 0:
        raise ValueError(f"args.{name} must be a positive integer, not {value!r}")
    return number


def parse_date(value: Any, what: str) -> datetime:
    """An ISO-8601 date (with zone; none means UTC) as a naive UTC datetime, Postgres' timestamp(3) form."""
    if not isinstance(value, str):
        raise ValueError(f"{what} must be an ISO-8601 date string, not {value!r}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{what} is not an ISO-8601 date: {value!r}") from None
    return naive_utc(moment)


def iso(moment: datetime) -> str:
    """A naive-UTC or aware datetime as `YYYY-MM-DDTHH:MM:SS.mmmZ` (JavaScript's toISOString)."""
    moment = naive_utc(moment)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def naive_utc(moment: datetime) -> datetime:
    """An aware datetime as the naive UTC value Postgres' `timestamp(3)` columns hold (naive: kept)."""
    return moment if moment.tzinfo is None else moment.astimezone(UTC).replace(tzinfo=None)


def now_utc() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Progress:
    """The run's view of its state: where the cursor stands and how many rows are done."""

    def __init__(self, state: StateStore, suffix: str = "") -> None:
        self._state = state
        self._suffix = suffix
        self.saved: dict[str, Any] = {}
        self.rows_done = 0

    def key(self, name: str) -> str:
        return name + self._suffix

    async def load(self) -> dict[str, Any]:
        self.saved = dict(await self._state.load())
        done = self.saved.get(self.key("rowsDone"))
        self.rows_done = done if isinstance(done, int) and not isinstance(done, bool) else 0
        return self.saved

    async def begin(self, cursor_ts: datetime, cursor_id: str | None,
                    estimate: Callable[[], Awaitable[int]]) -> None:
        """Write the starting cursor at once (as upstream), and startedAt/rowsTotal on the first start."""
        updates: dict[str, Any] = {self.key("maxDate"): iso(cursor_ts), self.key("cursorId"): cursor_id,
                                   self.key("updatedAt"): iso(now_utc()), self.key("rowsDone"): self.rows_done}
        if self.key("startedAt") not in self.saved:
            updates[self.key("startedAt")] = iso(now_utc())
        if self.key("rowsTotal") not in self.saved:
            updates[self.key("rowsTotal")] = self.rows_done + await estimate()
        await self._state.save(updates)

    async def advance(self, cursor_ts: datetime, cursor_id: str, rows: int) -> None:
        self.rows_done += rows
        await self._state.save({
            self.key("maxDate"): iso(cursor_ts), self.key("cursorId"): cursor_id,
            self.key("rowsDone"): self.rows_done, self.key("updatedAt"): iso(now_utc()),
        })


async def start_cursor(progress: Progress, args: Mapping[str, Any]) -> tuple[datetime, str | None]:
    """The saved cursor, else `args.maxDate`, else now (Langfuse's order); naive UTC plus tie-breaker id."""
    saved = await progress.load()
    saved_date = saved.get(progress.key("maxDate"))
    if saved_date is not None:
        saved_id = saved.get(progress.key("cursorId"))
        return parse_date(saved_date, "state.maxDate"), saved_id if isinstance(saved_id, str) else None
    if args.get("maxDate") is not None:
        return parse_date(args["maxDate"], "args.maxDate"), None
    return now_utc(), None
