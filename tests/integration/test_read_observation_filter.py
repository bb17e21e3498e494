"""GET /api/public/observations and /v2/observations with the structured `filter` parameter."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from langfuse_aio.runtime.resources import Resources
from tests.factories import TestProject
from tests.integration.test_read_trace_filter import cond, flt
from tests.support import rows
from tests.support.http import api_get as get
from tests.support.openapi import assert_valid_response
from tests.support.rows import insert_each, ts

pytestmark = pytest.mark.integration

V1 = "/api/public/observations"
V2 = "/api/public/v2/observations"
CURRENT = "openapi-current.yml"
EVERY = ["o-new", "o-a2", "o-a1", "o-b1", "o-orphan"]  # start_time desc


async def v1_ids(client: Client, project: TestProject, params: Any) -> list[str]:
    status, body = await get(client, project, V1, params)
    assert status == 200, body
    for spec in ("openapi-v3.0.0.yml", CURRENT):
        assert_valid_response(body, V1, spec=spec)
    found = [item["id"] for item in body["data"]]
    assert body["meta"]["totalItems"] == len(found) or body["meta"]["limit"] < body["meta"]["totalItems"]
    return found


async def v2_ids(client: Client, project: TestProject, params: Any) -> list[str]:
    status, body = await get(client, project, V2, {"fields": "core,basic,io,metadata,usage,metrics", **params})
    assert status == 200, body
    assert_valid_response(body, V2, spec=CURRENT)
    return [item["id"] for item in body["data"]]


async def seed(res: Resources, p: str) -> None:
    """Traces t-a (alice, tags a/b, production) and t-b (bob), and observations on them; o-orphan's
    trace does not exist; o-new was renamed from "old" by a later version; o-gone is deleted."""
    await insert_each(
        res.clickhouse, "traces",
        rows.trace(p, "t-a", name="alpha", user_id="alice", session_id="s-1", tags=["a", "b"],
                   environment="production"),
        rows.trace(p, "t-b", name="beta", user_id="bob", tags=["a"]),
        rows.trace(p, "t-c", name="gamma"),
    )
    renamed = rows.observation(p, "o-new", "t-c", name="old", start_time=ts(70), event_ts=ts(0))
    gone = rows.observation(p, "o-gone", "t-a", name="llm", start_time=ts(80), event_ts=ts(0))
    await insert_each(
        res.clickhouse, "observations",
        rows.observation(p, "o-a1", "t-a", type="GENERATION", name="llm", start_time=ts(60), end_time=ts(62),
                         completion_start_time=ts(60.5), version="v1", provided_model_name="gpt-4o",
                         prompt_name="p-main", prompt_version=2, metadata={"stage": "prod-eu", "n": "3"},
                         usage_details={"input": 10, "output": 20, "total": 30},
                         cost_details={"input": Decimal("0.01"), "output": Decimal("0.02"), "total": Decimal("0.03")},
                         total_cost=Decimal("0.03"), input='{"question": "Where is the Needle?"}',
                         output="found the needle"),
        rows.observation(p, "o-a2", "t-a", name="step", start_time=ts(61), end_time=ts(65), level="ERROR",
                         status_message="boom", parent_observation_id="o-a1", environment="staging"),
        rows.observation(p, "o-b1", "t-b", name="other", start_time=ts(40), end_time=ts(41), level="WARNING",
                         usage_details={"input": 1, "total": 1}),
        rows.observation(p, "o-orphan", "t-missing", type="EVENT", name="ev", start_time=ts(30),
                         metadata={"stage": "prod-us"}),
        renamed, renamed | {"name": "new", "event_ts": ts(1)},
        gone, rows.tombstone(gone, ts(1)),
    )


SHARED_CASES: list[tuple[list[dict[str, Any]], list[str]]] = [
    ([cond("string", "type", "=", "GENERATION")], ["o-a1"]),
    ([cond("stringOptions", "type", "any of", ["EVENT", "GENERATION"])], ["o-a1", "o-orphan"]),
    ([cond("string", "name", "=", "old")], []),  # only an older version of o-new had it
    ([cond("string", "name", "=", "llm")], ["o-a1"]),  # o-gone is deleted
    ([cond("string", "name", "starts with", "o")], ["o-b1"]),
    ([cond("string", "traceId", "=", "t-a")], ["o-a2", "o-a1"]),
    ([cond("string", "traceId", "=", "t-a"), cond("string", "name", "ends with", "ep")], ["o-a2"]),
    ([cond("string", "id", "contains", "a")], ["o-a2", "o-a1", "o-orphan"]),
    ([cond("stringOptions", "level", "none of", ["DEFAULT"])], ["o-a2", "o-b1"]),
    ([cond("string", "environment", "=", "staging")], ["o-a2"]),
    ([cond("string", "statusMessage", "contains", "oo")], ["o-a2"]),
    ([cond("null", "statusMessage", "is not null")], ["o-a2"]),
    ([cond("string", "version", "=", "v1")], ["o-a1"]),
    ([cond("datetime", "startTime", ">", ts(60).isoformat())], ["o-new", "o-a2"]),
    ([cond("datetime", "startTime", ">=", ts(60).isoformat()), cond("datetime", "startTime", "<=", ts(61).isoformat())],
     ["o-a2", "o-a1"]),
    ([cond("datetime", "endTime", "<", ts(62).isoformat())], ["o-b1"]),
    ([cond("null", "endTime", "is null")], ["o-new", "o-orphan"]),
    ([cond("number", "latency", ">", 1.5)], ["o-a2", "o-a1"]),
    ([cond("number", "latency", "=", 1)], ["o-b1"]),
    ([cond("null", "latency", "is null")], ["o-new", "o-orphan"]),
    ([cond("number", "timeToFirstToken", "=", 0.5)], ["o-a1"]),
    ([cond("number", "tokensPerSecond", ">=", 10)], ["o-a1"]),
    ([cond("number", "inputTokens", ">", 5)], ["o-a1"]),
    ([cond("number", "outputTokens", "=", 0)], ["o-new", "o-a2", "o-b1", "o-orphan"]),
    ([cond("number", "tokens", "=", 1)], ["o-b1"]),
    ([cond("number", "totalCost", ">", 0.02)], ["o-a1"]),
    ([cond("number", "inputCost", "<", 0.02)], ["o-a1"]),
    ([cond("number", "outputCost", "=", 0.02)], ["o-a1"]),
    ([cond("null", "inputCost", "is null")], ["o-new", "o-a2", "o-b1", "o-orphan"]),
    ([cond("string", "model", "=", "gpt-4o")], ["o-a1"]),
    ([cond("string", "promptName", "starts with", "p-")], ["o-a1"]),
    ([cond("number", "promptVersion", ">=", 2)], ["o-a1"]),
    ([cond("stringObject", "metadata", "starts with", "prod", key="stage")], ["o-a1", "o-orphan"]),
    ([cond("stringObject", "metadata", "=", "prod-us", key="stage")], ["o-orphan"]),
    ([cond("numberObject", "metadata", ">=", 3, key="n")], ["o-a1"]),
    ([cond("categoryOptions", "metadata", "none of", ["prod-eu"], key="stage")], ["o-new", "o-a2", "o-b1", "o-orphan"]),
    # columns of the observation's trace (its latest version; no trace: no match)
    ([cond("string", "userId", "=", "alice")], ["o-a2", "o-a1"]),
    ([cond("null", "userId", "is null")], ["o-new"]),
    ([cond("string", "traceName", "=", "beta")], ["o-b1"]),
    ([cond("arrayOptions", "traceTags", "any of", ["b"])], ["o-a2", "o-a1"]),
    ([cond("arrayOptions", "traceTags", "none of", ["b"])], ["o-new", "o-b1"]),
    ([cond("arrayOptions", "traceTags", "all of", ["a"]), cond("string", "name", "=", "other")], ["o-b1"]),
    ([], EVERY),
]


async def test_v1_each_type_and_operator(client: Client, resources: Resources, project: TestProject) -> None:
    await seed(resources, project.id)
    for conditions, expected in [
        *SHARED_CASES,
        ([cond("string", "traceEnvironment", "=", "production")], ["o-a2", "o-a1"]),
    ]:
        assert await v1_ids(client, project, {"filter": flt(*conditions)}) == expected, conditions


async def test_v2_each_type_and_operator(client: Client, resources: Resources, project: TestProject) -> None:
    await seed(resources, project.id)
    for conditions, expected in [
        *SHARED_CASES,
        ([cond("string", "sessionId", "=", "s-1")], ["o-a2", "o-a1"]),
        ([cond("arrayOptions", "tags", "any of", ["b"])], ["o-a2", "o-a1"]),
        ([cond("string", "providedModelName", "=", "gpt-4o")], ["o-a1"]),
        ([cond("boolean", "isRootObservation", "=", True)], ["o-new", "o-a1", "o-b1", "o-orphan"]),
        ([cond("boolean", "isRootObservation", "<>", True)], ["o-a2"]),
        ([cond("string", "input", "matches", "needle")], ["o-a1"]),  # case-insensitive
        ([cond("string", "output", "=", "found the needle")], ["o-a1"]),
        ([cond("string", "output", "=", "found")], []),
        ([cond("string", "input", "contains", "Where"), cond("string", "output", "matches", "NEEDLE")], ["o-a1"]),
        ([cond("string", "input", "contains", "where"), cond("string", "output", "matches", "needle")], []),
        ([cond("stringObject", "metadata", "matches", "prod", key="stage")], ["o-a1", "o-orphan"]),
        ([cond("stringObject", "metadata", "matches", "PROD", key="stage")], []),  # case-sensitive on metadata
    ]:
        assert await v2_ids(client, project, {"filter": flt(*conditions)}) == expected, conditions


async def test_filter_and_plain_parameters(client: Client, resources: Resources, project: TestProject) -> None:
    await seed(resources, project.id)
    slow = flt(cond("number", "latency", ">", 0))
    for ids in (v1_ids, v2_ids):
        assert await ids(client, project, {"name": "llm", "filter": slow}) == ["o-a1"]
        assert await ids(client, project, {"userId": "bob", "filter": slow}) == ["o-b1"]
        # a condition on the same column replaces the individual parameter
        assert await ids(client, project, {"type": "SPAN", "filter": flt(cond("string", "type", "=", "EVENT"))}
                         ) == ["o-orphan"]
        since = flt(cond("datetime", "startTime", ">=", ts(40).isoformat()))
        assert await ids(client, project, {"fromStartTime": ts(65).isoformat(), "filter": since}
                         ) == ["o-new", "o-a2", "o-a1", "o-b1"]
    roots = flt(cond("boolean", "isRootObservation", "=", False))
    assert await v2_ids(client, project, {"parentObservationId": "", "filter": roots}) == ["o-a2"]

    status, body = await get(client, project, V1, {"filter": slow, "limit": 1, "page": 2})
    assert status == 200 and [o["id"] for o in body["data"]] == ["o-a1"]
    assert body["meta"] == {"page": 2, "limit": 1, "totalItems": 3, "totalPages": 3}
    seen: list[str] = []
    params: dict[str, Any] = {"filter": slow, "limit": 1}
    while True:  # the v2 cursor walks the filtered rows once each
        status, body = await get(client, project, V2, params)
        assert status == 200
        seen += [o["id"] for o in body["data"]]
        if "cursor" not in body["meta"]:
            break
        params["cursor"] = body["meta"]["cursor"]
    assert seen == ["o-a2", "o-a1", "o-b1"]


async def test_another_projects_rows_never_match(
    client: Client, resources: Resources, project: TestProject, other_project: TestProject
) -> None:
    await seed(resources, project.id)
    q = other_project.id
    await insert_each(resources.clickhouse, "traces",  # the other project's trace under our trace id
                      rows.trace(q, "t-missing", name="alpha", user_id="alice", tags=["b"]))
    await insert_each(resources.clickhouse, "observations",
                      rows.observation(q, "o-x", "t-a", type="GENERATION", name="llm", start_time=ts(60),
                                       end_time=ts(90), metadata={"stage": "prod-eu"}))
    for conditions, expected in [
        ([cond("string", "name", "=", "llm")], ["o-a1"]),
        ([cond("number", "latency", ">", 10)], []),
        ([cond("stringObject", "metadata", "=", "prod-eu", key="stage")], ["o-a1"]),
        ([cond("string", "userId", "=", "alice")], ["o-a2", "o-a1"]),  # not o-orphan through q's trace
        ([cond("arrayOptions", "traceTags", "any of", ["b"])], ["o-a2", "o-a1"]),
    ]:
        assert await v1_ids(client, project, {"filter": flt(*conditions)}) == expected, conditions
        assert await v2_ids(client, project, {"filter": flt(*conditions)}) == expected, conditions
    assert await v1_ids(client, other_project, {"filter": flt(cond("string", "name", "=", "llm"))}) == ["o-x"]


@pytest.mark.parametrize(("path", "value", "words"), [
    (V1, "[{", "not valid JSON"),
    (V1, flt(cond("string", "colour", "=", "x")), "unknown column 'colour'"),
    (V1, flt(cond("boolean", "isRootObservation", "=", True)), "unknown column"),  # a v2 column
    (V1, flt(cond("string", "input", "matches", "x")), "unknown column"),
    (V1, flt(cond("string", "name", "matches", "x")), "operator 'matches'"),
    (V1, flt(cond("number", "latency", ">", None)), "finite number"),
    (V2, flt(cond("string", "name", "=", "x"), cond("string", "input", "contains", "x")),
     "item 1: an input or output filter needs"),
    (V2, flt(cond("stringOptions", "type", "any of", "GENERATION")), "array of strings"),
    (V2, flt(cond("numberObject", "metadata", ">", 1)), "`key` is required"),
    (V2, '{"column": "name"}', "JSON array"),
])
async def test_bad_filters_are_400_naming_filter(
    client: Client, project: TestProject, path: str, value: str, words: str
) -> None:
    status, body = await get(client, project, path, {"filter": value})
    assert status == 400, body
    assert body["error"][0]["path"] == ["filter"] and words in body["message"]
