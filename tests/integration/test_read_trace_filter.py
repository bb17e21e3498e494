"""GET /api/public/traces with the structured `filter` parameter, on rows seeded into ClickHouse."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from langfuse_aio.runtime.resources import Resources
from tests.factories import TestProject
from tests.support import rows
from tests.support.http import api_get as get
from tests.support.openapi import assert_valid_response
from tests.support.rows import insert_each, ts

pytestmark = pytest.mark.integration

LIST = "/api/public/traces"
EVERY = ["t-a", "t-b", "t-c", "t-old"]  # timestamp desc


def cond(type_: str, column: str, operator: str, value: Any = None, key: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"type": type_, "column": column, "operator": operator, "value": value}
    return item if key is None else item | {"key": key}


def flt(*conditions: dict[str, Any]) -> str:
    return json.dumps(list(conditions))


async def listed(client: Client, project: TestProject, params: Any) -> list[str]:
    status, body = await get(client, project, LIST, params)
    assert status == 200, body
    assert_valid_response(body, LIST, spec="openapi-current.yml")
    found = [item["id"] for item in body["data"]]
    assert body["meta"]["totalItems"] == len(found) or body["meta"]["limit"] < body["meta"]["totalItems"]
    return found


async def seed(res: Resources, p: str) -> None:
    """t-a (observations with usage, cost and an ERROR; three scores), t-b (one WARNING observation,
    two scores), t-c (nothing attached), t-old (renamed by a later version), t-gone (deleted)."""
    old = rows.trace(p, "t-old", name="before", metadata={"tier": "gold"}, timestamp=ts(0), event_ts=ts(0))
    gone = rows.trace(p, "t-gone", name="alpha", timestamp=ts(50), event_ts=ts(0))
    await insert_each(
        res.clickhouse, "traces",
        rows.trace(p, "t-a", name="alpha", user_id="alice", session_id="s-1", environment="production",
                   version="v1", release="r1", tags=["a", "b"], bookmarked=True,
                   metadata={"tier": "gold", "n": "5"}, timestamp=ts(60)),
        rows.trace(p, "t-b", name="beta", user_id="bob", tags=["a"], metadata={"tier": "silver", "n": "12"},
                   timestamp=ts(40)),
        rows.trace(p, "t-c", name="gamma", timestamp=ts(20)),
        old, old | {"name": "renamed", "metadata": {}, "event_ts": ts(1)},
        gone, rows.tombstone(gone, ts(1)),
    )
    await insert_each(
        res.clickhouse, "observations",
        rows.observation(p, "o-a1", "t-a", type="GENERATION", start_time=ts(60), end_time=ts(62),
                         usage_details={"input": 10, "output": 20, "total": 30},
                         cost_details={"input": Decimal("0.01"), "output": Decimal("0.02"), "total": Decimal("0.03")},
                         total_cost=Decimal("0.03")),
        rows.observation(p, "o-a2", "t-a", start_time=ts(61), end_time=ts(65), level="ERROR"),
        rows.observation(p, "o-b1", "t-b", start_time=ts(40), end_time=ts(41), level="WARNING",
                         usage_details={"input": 1, "total": 1}),
    )
    await insert_each(
        res.clickhouse, "scores",
        rows.score(p, "s-a1", "t-a", name="quality", value=0.9, timestamp=ts(60)),
        rows.score(p, "s-a2", "t-a", name="tone", data_type="CATEGORICAL", value=1, string_value="polite",
                   timestamp=ts(60)),
        rows.score(p, "s-a3", "t-a", name="correct", data_type="BOOLEAN", value=1, string_value="True",
                   timestamp=ts(60)),
        rows.score(p, "s-b1", "t-b", name="quality", value=0.2, timestamp=ts(40)),
        rows.score(p, "s-b2", "t-b", name="correct", data_type="BOOLEAN", value=0, string_value="False",
                   timestamp=ts(40)),
    )


CASES: list[tuple[list[dict[str, Any]], list[str]]] = [
    # string columns of the trace
    ([cond("string", "name", "=", "alpha")], ["t-a"]),  # t-gone is deleted
    ([cond("string", "name", "=", "before")], []),  # only an older version of t-old had it
    ([cond("string", "name", "contains", "ta")], ["t-b"]),
    ([cond("string", "name", "does not contain", "mm")], ["t-a", "t-b", "t-old"]),
    ([cond("string", "name", "starts with", "ga")], ["t-c"]),
    ([cond("string", "name", "ends with", "ed")], ["t-old"]),
    ([cond("string", "userId", "does not contain", "li")], ["t-b"]),  # no user: no match
    ([cond("string", "id", "=", "t-c")], ["t-c"]),
    ([cond("string", "version", "=", "v1"), cond("string", "release", "=", "r1")], ["t-a"]),
    ([cond("stringOptions", "environment", "any of", ["production", "dev"])], ["t-a"]),
    ([cond("stringOptions", "environment", "none of", ["production"])], ["t-b", "t-c", "t-old"]),
    ([cond("null", "sessionId", "is null")], ["t-b", "t-c", "t-old"]),
    ([cond("null", "sessionId", "is not null")], ["t-a"]),
    # datetime, arrays, booleans
    ([cond("datetime", "timestamp", ">=", ts(40).isoformat())], ["t-a", "t-b"]),
    ([cond("datetime", "timestamp", "<", ts(40).isoformat()), cond("datetime", "timestamp", ">", ts(0).isoformat())],
     ["t-c"]),
    ([cond("arrayOptions", "tags", "any of", ["b", "z"])], ["t-a"]),
    ([cond("arrayOptions", "tags", "all of", ["a", "b"])], ["t-a"]),
    ([cond("arrayOptions", "tags", "none of", ["a"])], ["t-c", "t-old"]),
    ([cond("boolean", "bookmarked", "=", True)], ["t-a"]),
    ([cond("boolean", "bookmarked", "<>", True)], ["t-b", "t-c", "t-old"]),
    # metadata
    ([cond("stringObject", "metadata", "=", "gold", key="tier")], ["t-a"]),  # t-old's latest has none
    ([cond("stringObject", "metadata", "contains", "il", key="tier")], ["t-b"]),
    ([cond("stringObject", "metadata", "does not contain", "gold", key="tier")], ["t-b", "t-c", "t-old"]),
    ([cond("numberObject", "metadata", ">", 6, key="n")], ["t-b"]),
    ([cond("numberObject", "metadata", "<=", 5, key="n")], ["t-a"]),
    ([cond("categoryOptions", "metadata", "any of", ["gold", "bronze"], key="tier")], ["t-a"]),
    # figures over observations (a trace without any has latency, tokens, cost and counts 0)
    ([cond("number", "latency", ">", 2)], ["t-a"]),
    ([cond("number", "latency", "<", 2)], ["t-b", "t-c", "t-old"]),
    ([cond("number", "latency", "=", 5)], ["t-a"]),
    ([cond("number", "inputTokens", ">=", 1)], ["t-a", "t-b"]),
    ([cond("number", "outputTokens", "=", 20)], ["t-a"]),
    ([cond("number", "tokens", "=", 0)], ["t-c", "t-old"]),
    ([cond("number", "totalCost", ">", 0.02)], ["t-a"]),
    ([cond("number", "inputCost", "=", 0.01)], ["t-a"]),
    ([cond("number", "outputCost", "<", 0.01)], ["t-b", "t-c", "t-old"]),
    ([cond("number", "errorCount", ">=", 1)], ["t-a"]),
    ([cond("number", "warningCount", "=", 0)], ["t-a", "t-c", "t-old"]),
    ([cond("number", "defaultCount", "=", 1)], ["t-a"]),
    ([cond("number", "debugCount", ">", 0)], []),
    ([cond("string", "level", "=", "ERROR")], ["t-a"]),
    ([cond("stringOptions", "level", "any of", ["WARNING", "DEBUG"])], ["t-b"]),
    ([cond("null", "level", "is null")], ["t-c", "t-old"]),
    # scores, by name
    ([cond("numberObject", "scores_avg", ">", 0.5, key="quality")], ["t-a"]),
    ([cond("numberObject", "scores", "<", 0.5, key="quality")], ["t-b"]),
    ([cond("categoryOptions", "score_categories", "any of", ["polite"], key="tone")], ["t-a"]),
    ([cond("categoryOptions", "score_categories", "none of", ["polite"], key="tone")], ["t-b", "t-c", "t-old"]),
    ([cond("booleanObject", "score_booleans", "=", True, key="correct")], ["t-a"]),
    ([cond("booleanObject", "score_booleans", "=", False, key="correct")], ["t-b"]),
    ([cond("booleanObject", "score_booleans", "<>", True, key="correct")], ["t-b", "t-c", "t-old"]),
    # several conditions: all must hold
    ([cond("arrayOptions", "tags", "any of", ["a"]), cond("number", "latency", "<", 2)], ["t-b"]),
    ([], EVERY),
]


async def test_each_type_and_operator(client: Client, resources: Resources, project: TestProject) -> None:
    await seed(resources, project.id)
    for conditions, expected in CASES:
        assert await listed(client, project, {"filter": flt(*conditions)}) == expected, conditions


async def test_filter_and_plain_parameters_are_anded_and_the_filter_wins_on_its_column(
    client: Client, resources: Resources, project: TestProject
) -> None:
    await seed(resources, project.id)
    alpha = flt(cond("string", "name", "=", "alpha"))
    assert await listed(client, project, {"userId": "alice", "filter": alpha}) == ["t-a"]
    assert await listed(client, project, {"userId": "bob", "filter": alpha}) == []
    assert await listed(client, project, {"tags": "a", "filter": flt(cond("number", "latency", "<", 2))}) == ["t-b"]
    # a condition on the same column replaces the individual parameter
    assert await listed(client, project, {"userId": "bob", "filter": flt(cond("string", "userId", "=", "alice"))}
                        ) == ["t-a"]
    since = flt(cond("datetime", "timestamp", ">=", ts(30).isoformat()))
    assert await listed(client, project, {"fromTimestamp": ts(50).isoformat(), "filter": since}) == ["t-a", "t-b"]
    # ordering and pages apply to the filtered traces
    everything_but_c = flt(cond("string", "id", "does not contain", "c"))
    assert await listed(client, project, {"filter": everything_but_c, "orderBy": "name.asc"}) == ["t-a", "t-b", "t-old"]
    status, body = await get(client, project, LIST, {"filter": everything_but_c, "limit": 1, "page": 2})
    assert status == 200 and [t["id"] for t in body["data"]] == ["t-b"]
    assert body["meta"] == {"page": 2, "limit": 1, "totalItems": 3, "totalPages": 3}


async def test_figures_follow_new_observations_at_once(
    client: Client, resources: Resources, project: TestProject
) -> None:
    await seed(resources, project.id)
    costly = flt(cond("number", "totalCost", ">", 1))
    assert await listed(client, project, {"filter": costly}) == []
    await insert_each(resources.clickhouse, "observations",
                      rows.observation(project.id, "o-c1", "t-c", start_time=ts(20), total_cost=Decimal("2")))
    assert await listed(client, project, {"filter": costly}) == ["t-c"]  # no stale cached count


async def test_another_projects_rows_never_match(
    client: Client, resources: Resources, project: TestProject, other_project: TestProject
) -> None:
    await seed(resources, project.id)
    q = other_project.id
    await insert_each(resources.clickhouse, "traces",
                      rows.trace(q, "t-x", name="alpha", metadata={"tier": "gold"}, tags=["b"], timestamp=ts(60)))
    await insert_each(resources.clickhouse, "observations",  # the other project's rows under our trace ids
                      rows.observation(q, "o-x", "t-c", start_time=ts(20), end_time=ts(80), level="ERROR",
                                       total_cost=Decimal("5")))
    await insert_each(resources.clickhouse, "scores", rows.score(q, "s-x", "t-c", name="quality", value=1))
    for conditions, expected in [
        ([cond("string", "name", "=", "alpha")], ["t-a"]),
        ([cond("stringObject", "metadata", "=", "gold", key="tier")], ["t-a"]),
        ([cond("number", "totalCost", ">", 1)], []),
        ([cond("number", "errorCount", "=", 0)], ["t-b", "t-c", "t-old"]),
        ([cond("number", "latency", ">", 10)], []),
        ([cond("numberObject", "scores_avg", ">", 0.95, key="quality")], []),
    ]:
        assert await listed(client, project, {"filter": flt(*conditions)}) == expected, conditions
    assert await listed(client, other_project, {"filter": flt(cond("string", "name", "=", "alpha"))}) == ["t-x"]
    assert await listed(client, other_project, {"filter": flt(cond("string", "id", "=", "t-a"))}) == []


@pytest.mark.parametrize(("value", "words"), [
    ("{not json", "not valid JSON"),
    ('{"type": "string"}', "JSON array"),
    (flt(cond("string", "nope", "=", "x")), "unknown column 'nope'"),
    (flt(cond("string", "name", "=", "x"), cond("number", "name", "=", 1)), "item 1: column 'name' takes type"),
    (flt(cond("number", "latency", "contains", 1)), "operator 'contains'"),
    (flt(cond("number", "latency", ">", "1")), "finite number"),
    (flt(cond("datetime", "timestamp", ">", "soon")), "ISO 8601"),
    (flt(cond("stringObject", "metadata", "=", "x")), "`key` is required"),
    (flt(cond("numberObject", "scores_avg", ">", 1)), "`key` is required"),
    (flt(cond("string", "isRootObservation", "=", "x")), "unknown column"),
])
async def test_bad_filters_are_400_naming_filter(client: Client, project: TestProject, value: str, words: str) -> None:
    status, body = await get(client, project, LIST, {"filter": value})
    assert status == 400, body
    assert body["error"][0]["path"] == ["filter"] and words in body["message"]
