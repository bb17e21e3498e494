"""Query parameters of the score lists → one `ScoreFilter`; pure.

Three lists share the filter:
- v1 `GET /api/public/scores` (v3.0.0 document): page-based; trace scores only (Langfuse's v1
  "traces_only" scope: the v1 Score requires a traceId);
- v2 `GET /api/public/v2/scores` (current document): page-based; trace and session scores; `fields`
  (`score`, `trace`) and a JSON `filter` of which the metadata (`stringObject`) conditions are served;
- v3 `GET /api/public/v3/scores` (current document): cursor-based; comma lists, case-insensitive
  `source`/`dataType`, exact `value`s, `valueMin`/`valueMax`, subject ids.

Deliberate difference from v3.0.0 (ingestion spec §1.5): `operator` applies to `value` only. Langfuse
v3.0.0 also applied it to both timestamp bounds, so `operator=>=&value=0.5&toTimestamp=T` became
`timestamp >= T`. `value` without `operator` (or the reverse) is ignored, as in Langfuse.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from langfuse_aio.domain import query_params as q
from langfuse_aio.domain.query_params import InvalidQueryError, QueryArgs

SOURCES: Final = ("ANNOTATION", "API", "EVAL")
V1_DATA_TYPES: Final = ("NUMERIC", "BOOLEAN", "CATEGORICAL")
V3_DATA_TYPES: Final = ("NUMERIC", "BOOLEAN", "CATEGORICAL", "TEXT", "CORRECTION")
OPERATORS: Final = ("<", ">", "<=", ">=", "!=", "=")
METADATA_OPERATORS: Final = ("=", "contains", "does not contain", "starts with", "ends with")
V2_FIELDS: Final = ("score", "trace")
V3_FIELDS: Final = ("details", "subject", "annotation")


@dataclass(frozen=True, slots=True)
class MetadataCondition:
    key: str
    operator: str  # one of METADATA_OPERATORS
    value: str


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the previous v3 page ended: the last row's (timestamp, id) in `timestamp DESC, id DESC`."""

    timestamp: datetime
    id: str


@dataclass(frozen=True, slots=True)
class ScoreFilter:
    traces_only: bool = False  # v1: scores without a trace are not listable
    match_nothing: bool = False  # a filter on something this server never stores (experiments)
    ids: tuple[str, ...] = ()
    trace_ids: tuple[str, ...] = ()
    session_ids: tuple[str, ...] = ()
    observation_ids: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    data_types: tuple[str, ...] = ()
    environments: tuple[str, ...] = ()
    config_ids: tuple[str, ...] = ()
    queue_ids: tuple[str, ...] = ()
    author_user_ids: tuple[str, ...] = ()
    from_timestamp: datetime | None = None  # inclusive
    to_timestamp: datetime | None = None  # exclusive
    value_operator: tuple[str, float] | None = None  # (operator from OPERATORS, value)
    numeric_values: tuple[float, ...] = ()
    string_values: tuple[str, ...] = ()
    value_min: float | None = None  # inclusive
    value_max: float | None = None  # inclusive
    metadata: tuple[MetadataCondition, ...] = ()
    user_id: str | None = None  # the trace's user
    trace_tags: tuple[str, ...] = ()  # the trace has all of them
    after: Cursor | None = None

    @property
    def needs_trace(self) -> bool:
        return self.user_id is not None or bool(self.trace_tags)


def _one(args: QueryArgs, name: str) -> tuple[str, ...]:
    value = q.text(args, name)
    return () if value is None else (value,)


def _value_operator(args: QueryArgs) -> tuple[str, float] | None:
    operator = q.choice(args, "operator", OPERATORS)
    value = q.number(args, "value")
    return None if operator is None or value is None else (operator, value)


def _v1_common(args: QueryArgs) -> dict[str, Any]:
    return {
        "names": _one(args, "name"),
        "user_id": q.text(args, "userId"),
        "from_timestamp": q.timestamp(args, "fromTimestamp"),
        "to_timestamp": q.timestamp(args, "toTimestamp"),
        "sources": tuple(c for c in [q.choice(args, "source", SOURCES)] if c),
        "value_operator": _value_operator(args),
        "ids": tuple(q.text_list(args, "scoreIds")),
        "config_ids": _one(args, "configId"),
        "queue_ids": _one(args, "queueId"),
        "data_types": tuple(c for c in [q.choice(args, "dataType", V1_DATA_TYPES)] if c),
        "trace_tags": tuple(q.text_list(args, "traceTags")),
        "environments": tuple(q.text_list(args, "environment")),
    }


def v1_filter(args: QueryArgs) -> ScoreFilter:
    return ScoreFilter(traces_only=True, **_v1_common(args))


def v2_filter(args: QueryArgs) -> tuple[ScoreFilter, bool]:
    """The v2 filter and whether the items carry their `trace` (the `fields` parameter)."""
    fields = set(q.choices(args, "fields", V2_FIELDS)) or set(V2_FIELDS)
    score_filter = ScoreFilter(
        **_v1_common(args),
        trace_ids=_one(args, "traceId"),
        session_ids=_one(args, "sessionId"),
        observation_ids=tuple(q.text_list(args, "observationId")),
        metadata=metadata_conditions(q.text(args, "filter")),
        match_nothing=q.text(args, "datasetRunId") is not None,
    )
    if score_filter.needs_trace and "trace" not in fields:
        name = "userId" if score_filter.user_id is not None else "traceTags"
        raise InvalidQueryError("fields", f"must include 'trace' when filtering by {name}")
    return score_filter, "trace" in fields


def metadata_conditions(raw: str | None) -> tuple[MetadataCondition, ...]:
    """v2's JSON `filter`: only `stringObject` conditions on `metadata` are supported (400 otherwise)."""
    if raw is None:
        return ()
    try:
        items = json.loads(raw)
    except ValueError:
        raise InvalidQueryError("filter", "expected a JSON array of filter objects") from None
    if not isinstance(items, list):
        raise InvalidQueryError("filter", "expected a JSON array of filter objects")
    conditions = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or item.get("type") != "stringObject" or item.get("column") != "metadata":
            raise InvalidQueryError("filter", f"item {index}: only stringObject filters on metadata are supported")
        key, operator, value = item.get("key"), item.get("operator"), item.get("value")
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidQueryError("filter", f"item {index}: key and value must be strings")
        if operator not in METADATA_OPERATORS:
            raise InvalidQueryError("filter", f"item {index}: operator must be one of {', '.join(METADATA_OPERATORS)}")
        conditions.append(MetadataCondition(key, operator, value))
    return tuple(conditions)


# --- v3 ---------------------------------------------------------------------------------------------


def _upper_choices(args: QueryArgs, name: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    values = [value.upper() for value in q.text_list(args, name)]
    for value in values:
        if value not in allowed:
            raise InvalidQueryError(name, f"must be one of {', '.join(allowed)}; got {value!r}")
    return tuple(dict.fromkeys(values))


def _v3_values(args: QueryArgs, data_types: tuple[str, ...]) -> dict[str, Any]:
    raw_values = q.text_list(args, "value")
    value_min, value_max = q.number(args, "valueMin"), q.number(args, "valueMax")
    result: dict[str, Any] = {"value_min": value_min, "value_max": value_max}
    if (value_min is not None or value_max is not None) and data_types != ("NUMERIC",):
        raise InvalidQueryError("valueMin" if value_min is not None else "valueMax", "requires dataType=NUMERIC")
    if not raw_values:
        return result
    if len(data_types) != 1 or data_types[0] not in V1_DATA_TYPES:
        raise InvalidQueryError("value", "requires exactly one dataType of NUMERIC, BOOLEAN or CATEGORICAL")
    if data_types[0] == "CATEGORICAL":
        result["string_values"] = tuple(raw_values)
    elif data_types[0] == "BOOLEAN":
        if any(v.lower() not in ("true", "false") for v in raw_values):
            raise InvalidQueryError("value", "BOOLEAN values must be true or false")
        result["numeric_values"] = tuple(1.0 if v.lower() == "true" else 0.0 for v in raw_values)
    else:
        numbers = []
        for value in raw_values:
            number = q.number(_Single(value), "value")
            assert number is not None
            numbers.append(number)
        result["numeric_values"] = tuple(numbers)
    return result


class _Single:
    def __init__(self, value: str) -> None:
        self._value = value

    def getlist(self, key: str) -> list[str]:
        return [self._value]


def v3_filter(args: QueryArgs) -> tuple[ScoreFilter, int, frozenset[str]]:
    """The v3 filter, the page size and the requested field groups."""
    limit = q.integer(args, "limit", default=q.DEFAULT_LIMIT, minimum=1, maximum=q.MAX_LIMIT)
    assert limit is not None
    fields = frozenset(q.choices(args, "fields", V3_FIELDS))
    data_types = _upper_choices(args, "dataType", V3_DATA_TYPES)
    trace_ids, session_ids = tuple(q.text_list(args, "traceId")), tuple(q.text_list(args, "sessionId"))
    observation_ids, experiment_ids = tuple(q.text_list(args, "observationId")), q.text_list(args, "experimentId")
    subjects = [name for name, given in (("traceId", trace_ids), ("sessionId", session_ids),
                                         ("experimentId", experiment_ids)) if given]
    if len(subjects) > 1:
        raise InvalidQueryError(subjects[1], f"cannot be combined with {subjects[0]}")
    if observation_ids and not trace_ids:
        raise InvalidQueryError("observationId", "requires traceId")
    score_filter = ScoreFilter(
        match_nothing=bool(experiment_ids),
        ids=tuple(q.text_list(args, "id")),
        trace_ids=trace_ids,
        session_ids=session_ids,
        observation_ids=observation_ids,
        names=tuple(q.text_list(args, "name")),
        sources=_upper_choices(args, "source", SOURCES),
        data_types=data_types,
        environments=tuple(q.text_list(args, "environment")),
        config_ids=tuple(q.text_list(args, "configId")),
        queue_ids=tuple(q.text_list(args, "queueId")),
        author_user_ids=tuple(q.text_list(args, "authorUserId")),
        from_timestamp=q.timestamp(args, "fromTimestamp"),
        to_timestamp=q.timestamp(args, "toTimestamp"),
        after=decode_cursor(q.text(args, "cursor")),
        **_v3_values(args, data_types),
    )
    return score_filter, limit, fields


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MS: Final = timedelta(milliseconds=1)


def encode_cursor(timestamp: datetime, score_id: str) -> str:
    """An opaque base64url token; whole milliseconds, as ClickHouse's DateTime64(3) holds them."""
    if timestamp.tzinfo is None:
        timestamp = timestamp.replace(tzinfo=UTC)
    millis = (timestamp - _EPOCH) // _MS
    raw = json.dumps({"t": millis, "id": score_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(raw: str | None) -> Cursor | None:
    if raw is None:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        millis, score_id = data["t"], data["id"]
        if type(millis) is not int or not isinstance(score_id, str):
            raise TypeError
        return Cursor(_EPOCH + millis * _MS, score_id)
    except (ValueError, TypeError, KeyError, binascii.Error, OverflowError, OSError):
        raise InvalidQueryError("cursor", "not a cursor this server returned") from None
