"""Query parameters of the observation lists (`GET /observations`, `GET /v2/observations`); pure.

Both routes filter on the same things, so both parse into one `ObservationFilter`; the storage
layer turns it into SQL. The filters apply to each observation's latest version:

| parameter | v1 | v2 | meaning |
| --- | --- | --- | --- |
| `type` | GENERATION, SPAN, EVENT | also AGENT, TOOL, CHAIN, … | equality |
| `name`, `traceId`, `version`, `parentObservationId` | ✓ | ✓ | equality (v2: an empty parent id = roots) |
| `level` | ✓ | ✓ | DEBUG, DEFAULT, WARNING or ERROR |
| `userId` | ✓ | ✓ | the observation's trace has this `user_id` |
| `sessionId` | no | ✓ | the observation's trace has this `session_id` |
| `isRootObservation` | no | ✓ | true: no parent observation; false: has one |
| `environment` | ✓ | ✓ | repeated or comma-separated; any of them |
| `fromStartTime`, `toStartTime` | ✓ | ✓ | `start_time >= from`, `start_time < to` |

Both also take the structured `filter` (a JSON array of conditions, `structured_filter`; columns in
`filter_columns.OBSERVATION_V1_COLUMNS` / `OBSERVATION_V2_COLUMNS`). Its conditions are ANDed with the
parameters above, except that a condition on a column takes precedence over the parameter for that
column (`startTime` replaces `fromStartTime`/`toStartTime`; `isRootObservation` replaces an empty
`parentObservationId` too), as in Langfuse.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from langfuse_aio.domain import query_params as q
from langfuse_aio.domain.filter_columns import (
    OBSERVATION_PARAM_COLUMNS,
    OBSERVATION_V1_COLUMNS,
    OBSERVATION_V2_COLUMNS,
    with_conditions,
)
from langfuse_aio.domain.query_params import InvalidQueryError, Page, QueryArgs
from langfuse_aio.domain.structured_filter import Condition, parse_filter

V1_TYPES = ("GENERATION", "SPAN", "EVENT")
V2_TYPES = (*V1_TYPES, "AGENT", "TOOL", "CHAIN", "RETRIEVER", "EVALUATOR", "EMBEDDING", "GUARDRAIL")
LEVELS = ("DEBUG", "DEFAULT", "WARNING", "ERROR")


@dataclass(frozen=True, slots=True)
class ObservationFilter:
    type: str | None = None
    name: str | None = None
    trace_id: str | None = None
    parent_observation_id: str | None = None
    has_parent: bool | None = None  # None: either; False: roots only; True: children only
    version: str | None = None
    level: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    environments: tuple[str, ...] = ()
    from_start_time: datetime | None = None
    to_start_time: datetime | None = None
    conditions: tuple[Condition, ...] = ()  # the structured `filter`


def _common(args: QueryArgs, types: tuple[str, ...]) -> ObservationFilter:
    return ObservationFilter(
        type=q.choice(args, "type", types),
        name=q.text(args, "name"),
        trace_id=q.text(args, "traceId"),
        parent_observation_id=q.text(args, "parentObservationId"),
        version=q.text(args, "version"),
        level=q.choice(args, "level", LEVELS),
        user_id=q.text(args, "userId"),
        environments=tuple(q.text_list(args, "environment")),
        from_start_time=q.timestamp(args, "fromStartTime"),
        to_start_time=q.timestamp(args, "toStartTime"),
    )


def parse_v1(args: QueryArgs) -> tuple[ObservationFilter, Page]:
    """`GET /api/public/observations`: the filters and `page`/`limit` (≤ 100)."""
    conditions = parse_filter(q.text(args, "filter"), OBSERVATION_V1_COLUMNS)
    return with_conditions(_common(args, V1_TYPES), conditions, OBSERVATION_PARAM_COLUMNS), q.page(args)


def _has_parent(args: QueryArgs) -> bool | None:
    """v2: `parentObservationId=` (present but empty) means roots only; `isRootObservation` likewise."""
    wants_root = q.boolean(args, "isRootObservation")
    parent_given_empty = bool(args.getlist("parentObservationId")) and q.text(args, "parentObservationId") is None
    if parent_given_empty:
        if wants_root is False:
            raise InvalidQueryError("isRootObservation", "contradicts an empty parentObservationId")
        return False
    return None if wants_root is None else not wants_root


def parse_v2_filter(args: QueryArgs) -> ObservationFilter:
    """`GET /api/public/v2/observations`: the filters (paging and fields are parsed elsewhere)."""
    if q.boolean(args, "parseIoAsJson"):
        raise InvalidQueryError("parseIoAsJson", "is no longer supported: input and output are returned as strings")
    conditions = parse_filter(q.text(args, "filter"), OBSERVATION_V2_COLUMNS)
    flt = replace(_common(args, V2_TYPES), session_id=q.text(args, "sessionId"), has_parent=_has_parent(args))
    return with_conditions(flt, conditions, OBSERVATION_PARAM_COLUMNS)
