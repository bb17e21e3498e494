"""What `langfuse-aio migrations status` prints, and the progress figures the manager logs (pure).

Progress comes from the state keys every migration saves (contract.py): `rowsDone`, `rowsTotal`,
`startedAt`, `updatedAt` (with `args.stateSuffix` appended when the observations copy runs under
one). The rate is the average since the first run began (rowsDone over updatedAt - startedAt), so
time the migration spent stopped counts against it; the ETA is the rows left at that rate. Rows
whose state lacks these keys (for example progress left by Langfuse itself, which saves only
`maxDate`) show "-".

Per-row status follows Langfuse's admin page, with "active" made precise: failed if failed_at is set,
else finished if finished_at is set, else active if a worker holds a fresh lock (worker_id set and
locked_at newer than the staleness limit), else queued. The overall line is Langfuse's: FAILED if any
row failed, else ACTIVE if any row is not finished, else FINISHED.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

DEFAULT_STALE_SECONDS = 60.0


@dataclass(frozen=True)
class MigrationRow:
    """One `background_migrations` row (timestamps naive UTC, as stored)."""

    id: str
    name: str
    script: str
    args: Mapping[str, Any] = field(default_factory=dict)
    finished_at: datetime | None = None
    failed_at: datetime | None = None
    failed_reason: str | None = None
    worker_id: str | None = None
    locked_at: datetime | None = None
    state: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Progress:
    rows_done: int | None
    rows_total: int | None
    rate: float | None  # rows per second
    eta_seconds: float | None


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def parse_time(value: Any) -> datetime | None:
    """An ISO-8601 string as an aware UTC datetime (naive strings are taken as UTC); None if unreadable."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def state_suffix(args: Mapping[str, Any], state: Mapping[str, Any]) -> str:
    """The observations copy's `args.stateSuffix`, when its state holds keys under it."""
    suffix = args.get("stateSuffix")
    return suffix if isinstance(suffix, str) and f"rowsDone{suffix}" in state else ""


def progress(state: Mapping[str, Any], suffix: str = "") -> Progress:
    done = _int(state.get(f"rowsDone{suffix}"))
    total = _int(state.get(f"rowsTotal{suffix}"))
    started = parse_time(state.get(f"startedAt{suffix}"))
    updated = parse_time(state.get(f"updatedAt{suffix}"))
    rate = None
    if done is not None and started is not None and updated is not None:
        seconds = (updated - started).total_seconds()
        if seconds > 0:
            rate = done / seconds
    eta = None
    if done is not None and total is not None and rate is not None and rate > 0:
        eta = max(total - done, 0) / rate
    return Progress(done, total, rate, eta)


def row_status(row: MigrationRow, now: datetime, stale_seconds: float = DEFAULT_STALE_SECONDS) -> str:
    """failed / finished / active / queued; `now` and `locked_at` on the same (naive UTC) clock."""
    if row.failed_at is not None:
        return "failed"
    if row.finished_at is not None:
        return "finished"
    if (row.worker_id is not None and row.locked_at is not None
            and row.locked_at > now - timedelta(seconds=stale_seconds)):
        return "active"
    return "queued"


def overall_status(rows: Sequence[MigrationRow]) -> str:
    if any(r.failed_at is not None for r in rows):
        return "FAILED"
    if any(r.finished_at is None for r in rows):
        return "ACTIVE"
    return "FINISHED"


def format_count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def format_rate(rate: float | None) -> str:
    if rate is None:
        return "-"
    return f"{rate:,.0f} rows/s" if rate >= 100 else f"{rate:,.1f} rows/s"


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    total = round(seconds)
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


def format_rows(p: Progress) -> str:
    if p.rows_total is None:
        return format_count(p.rows_done)
    text = f"{format_count(p.rows_done)} of {format_count(p.rows_total)}"
    if p.rows_done is not None and p.rows_total > 0:
        text += f" ({min(p.rows_done / p.rows_total, 1.0):.1%})"
    return text


def render_row(row: MigrationRow, now: datetime, stale_seconds: float = DEFAULT_STALE_SECONDS) -> list[str]:
    status = row_status(row, now, stale_seconds)
    p = progress(row.state, state_suffix(row.args, row.state))
    lines = [f"{row.name}  {status}" + (f" (worker {row.worker_id})" if status == "active" else "")]
    lines.append(f"  script: {row.script}  args: {json.dumps(row.args, sort_keys=True)}")
    eta = format_duration(p.eta_seconds) if status == "active" else "-"
    rows = format_count(p.rows_done) if status == "finished" else format_rows(p)  # the estimate is moot now
    lines.append(f"  rows: {rows}  rate: {format_rate(p.rate)}  eta: {eta}")
    if row.failed_reason is not None:
        lines.append(f"  failed reason: {row.failed_reason}")
    lines.append(f"  state: {json.dumps(row.state, sort_keys=True)}")
    return lines


def render(rows: Sequence[MigrationRow], now: datetime, stale_seconds: float = DEFAULT_STALE_SECONDS,
           *, title: str = "background migrations") -> str:
    """The whole report of one table: the overall line, then one block per row in run order (by name)."""
    lines = [f"{title}: {overall_status(rows)}"]
    for row in rows:
        lines.append("")
        lines.extend(render_row(row, now, stale_seconds))
    if any(r.failed_at is not None for r in rows):
        lines.append("")
        lines.append("re-run a failed one with: langfuse-aio migrations retry NAME")
    return "\n".join(lines)
