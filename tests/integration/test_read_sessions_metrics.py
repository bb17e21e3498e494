"""GET /api/public/sessions, /sessions/{id} and /metrics/daily: sessions from Postgres (written by the
worker, or seeded), their traces and the daily figures from ClickHouse rows seeded directly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from arq.worker import Worker
from quart.typing import TestClientProtocol as Client

from langfuse_aio.runtime.resources import Resources
from tests.factories import TestProject
from tests.support import rows
from tests.support.http import api_get as get
from tests.support.openapi import assert_valid_response
from tests.support.rows import DAY, T0, insert_each, ts
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

SESSIONS = "/api/public/sessions"
METRICS = "/api/public/metrics/daily"
SPECS = ("openapi-v3.0.0.yml", "openapi-current.yml")




async def ok(client: Client, project: TestProject, path: str, params: Any = None, *, schema_path: str = "",
             specs: tuple[str, ...] = SPECS) -> Any:
    status, body = await get(client, project, path, params)
    assert status == 200, body
    for spec in specs:
        assert_valid_response(body, schema_path or path, spec=spec)
    return body


async def add_sessions(res: Resources, project_id: str, created: dict[str, datetime]) -> None:
    async with res.pg.connection() as conn:
        for session_id, at in created.items():
            naive = at.astimezone(UTC).replace(tzinfo=None)
            await conn.execute(
                "INSERT INTO trace_sessions (id, project_id, created_at, updated_at) VALUES (%s, %s, %s, %s)",
                (session_id, project_id, naive, naive),
            )


# --- sessions ----------------------------------------------------------------------------------


async def test_sessions_written_by_the_worker_are_listed_with_their_traces(
    client: Client, project: TestProject, worker: Worker
) -> None:
    started = datetime.now(UTC)
    events = [
        {"id": f"ev-{n}", "type": "trace-create", "timestamp": "2026-01-05T10:00:00.000Z",
         "body": {"id": f"tr-{n}", "sessionId": "chat-1", "name": f"turn {n}", "input": {"n": n},
                  "timestamp": f"2026-01-05T10:00:0{n}.000Z"}}
        for n in range(2)
    ]
    response = await client.post("/api/public/ingestion", json={"batch": events}, headers=project.basic)
    assert response.status_code == 207

    async def session() -> Any:
        status, body = await get(client, project, f"{SESSIONS}/chat-1")
        return body if status == 200 and len(body["traces"]) == 2 else None

    detail = await eventually(session, what="session chat-1 with two traces")
    for spec in SPECS:
        assert_valid_response(detail, f"{SESSIONS}/{{sessionId}}", spec=spec)
    assert detail["id"] == "chat-1" and detail["projectId"] == project.id
    assert [t["id"] for t in detail["traces"]] == ["tr-0", "tr-1"]
    assert detail["traces"][1]["input"] == {"n": 1} and detail["traces"][1]["sessionId"] == "chat-1"
    created = datetime.fromisoformat(detail["createdAt"].replace("Z", "+00:00"))
    assert started - timedelta(seconds=5) <= created <= datetime.now(UTC) + timedelta(seconds=5)  # UTC, not local

    listing = await ok(client, project, SESSIONS)
    assert [s["id"] for s in listing["data"]] == ["chat-1"]
    assert listing["data"][0] == {key: detail[key] for key in ("id", "createdAt", "projectId", "environment")}


async def test_session_list_filters_order_and_pages(
    client: Client, resources: Resources, project: TestProject
) -> None:
    await add_sessions(resources, project.id, {f"s-{n}": T0 + n * DAY for n in range(5)})
    body = await ok(client, project, SESSIONS)
    assert [s["id"] for s in body["data"]] == ["s-4", "s-3", "s-2", "s-1", "s-0"]
    assert body["data"][0]["createdAt"] == "2024-11-09T10:11:12.345Z"
    assert body["meta"] == {"page": 1, "limit": 50, "totalItems": 5, "totalPages": 1}

    body = await ok(client, project, SESSIONS, {"fromTimestamp": (T0 + DAY).isoformat(),
                                                "toTimestamp": (T0 + 3 * DAY).isoformat()})
    assert [s["id"] for s in body["data"]] == ["s-2", "s-1"] and body["meta"]["totalItems"] == 2

    body = await ok(client, project, SESSIONS, {"limit": 2, "page": 3, "environment": "production"})
    assert [s["id"] for s in body["data"]] == ["s-0"]
    assert body["meta"] == {"page": 3, "limit": 2, "totalItems": 5, "totalPages": 3}


async def test_session_traces_are_the_latest_live_versions_in_the_session(
    client: Client, resources: Resources, project: TestProject
) -> None:
    p = project.id
    await add_sessions(resources, p, {"s-1": T0})
    left = rows.trace(p, "t-left", session_id="s-1", timestamp=ts(1))
    gone = rows.trace(p, "t-gone", session_id="s-1", timestamp=ts(2))
    renamed = rows.trace(p, "t-b", session_id="s-1", name="old", timestamp=ts(20))
    await insert_each(
        resources.clickhouse, "traces",
        rows.trace(p, "t-a", session_id="s-1", timestamp=ts(10), metadata={"m": "[1, 2]"}),
        renamed, renamed | {"name": "new", "event_ts": ts(1)},
        left, left | {"session_id": "s-2", "event_ts": ts(1)},
        gone, rows.tombstone(gone, ts(1)),
        rows.trace(p, "t-elsewhere", session_id="s-2"),
    )
    body = await ok(client, project, f"{SESSIONS}/s-1", schema_path=f"{SESSIONS}/{{sessionId}}")
    assert [(t["id"], t["name"]) for t in body["traces"]] == [("t-a", "t"), ("t-b", "new")]
    assert body["traces"][0]["metadata"] == {"m": [1, 2]}


async def test_sessions_of_another_project_are_invisible(
    client: Client, resources: Resources, project: TestProject, other_project: TestProject
) -> None:
    await add_sessions(resources, project.id, {"s-1": T0})
    await insert_each(resources.clickhouse, "traces", rows.trace(project.id, "t-1", session_id="s-1"))
    body = await ok(client, other_project, SESSIONS)
    assert body["data"] == [] and body["meta"]["totalItems"] == 0
    for session_id in ("s-1", "s-never"):
        status, body = await get(client, other_project, f"{SESSIONS}/{session_id}")
        assert status == 404 and body == {"message": "Session not found within authorized project",
                                          "error": "LangfuseNotFoundError"}


# --- daily metrics -----------------------------------------------------------------------------


async def seed_metrics(res: Resources, p: str) -> None:
    """Day 0 (T0): t-1 (alice, tags a b), t-2 (bob, tag a). Day -1: t-3 (alice, name other) with an
    observation starting on day 0. Day -2: t-4 with no observations. t-gone deleted."""
    ch = res.clickhouse
    gone = rows.trace(p, "t-gone", timestamp=ts(5))
    await insert_each(
        ch, "traces",
        rows.trace(p, "t-1", name="chat", user_id="alice", tags=["a", "b"], timestamp=ts(0), environment="prod"),
        rows.trace(p, "t-2", name="chat", user_id="bob", tags=["a"], timestamp=ts(60)),
        rows.trace(p, "t-3", name="other", user_id="alice", timestamp=ts(0) - DAY),
        rows.trace(p, "t-4", name="chat", timestamp=ts(0) - 2 * DAY),
        gone, rows.tombstone(gone, ts(1)),
    )
    gen = rows.observation(p, "o-1", "t-1", type="GENERATION", provided_model_name="gpt-4o", start_time=ts(1),
                           usage_details={"input": 10, "output": 5, "total": 15}, total_cost=Decimal("0.01"))
    deleted = rows.observation(p, "o-del", "t-1", type="GENERATION", provided_model_name="gpt-4o", start_time=ts(2),
                               usage_details={"input": 1000}, total_cost=Decimal("9"))
    await insert_each(
        ch, "observations",
        gen, gen | {"usage_details": {"input": 20, "output": 5, "total": 25}, "total_cost": Decimal("0.02"),
                    "event_ts": ts(1)},  # the later version counts, once
        rows.observation(p, "o-2", "t-2", type="GENERATION", provided_model_name="gpt-4o", start_time=ts(61),
                         usage_details={"input": 1, "output": 2, "total": 3}, total_cost=Decimal("0.001")),
        rows.observation(p, "o-3", "t-2", type="GENERATION", provided_model_name="claude", start_time=ts(62),
                         usage_details={"input": 7, "output": 8, "total": 15}),  # no cost: counts as 0
        rows.observation(p, "o-4", "t-1", start_time=ts(3)),  # a span: model null
        rows.observation(p, "o-5", "t-3", type="GENERATION", provided_model_name="gpt-4o", start_time=ts(0),
                         usage_details={"input": 100, "output": 0, "total": 100}, total_cost=Decimal("0.5")),
        deleted, rows.tombstone(deleted, ts(1)),
    )


def day(offset: int) -> str:
    return (T0 + offset * DAY).date().isoformat()


async def test_day_with_traces_but_no_observations_reports_the_trace_day_not_1970(
    client: Client, resources: Resources, project: TestProject
) -> None:
    await seed_metrics(resources, project.id)
    body = await ok(client, project, METRICS, specs=SPECS[:1])
    assert [d["date"] for d in body["data"]] == [day(0), day(-1), day(-2)]
    assert body["data"][2] == {"date": day(-2), "countTraces": 1, "countObservations": 0, "totalCost": 0,
                               "usage": []}
    assert all(d["date"] != "1970-01-01" for d in body["data"])


async def test_daily_figures_by_trace_day_and_observation_day(
    client: Client, resources: Resources, project: TestProject
) -> None:
    await seed_metrics(resources, project.id)
    today, yesterday = (await ok(client, project, METRICS, specs=SPECS[:1]))["data"][:2]
    # traces by the trace's day; observations by their own day (o-5 of yesterday's t-3 starts today)
    assert (today["countTraces"], today["countObservations"]) == (2, 5)
    assert today["totalCost"] == pytest.approx(0.521)
    assert today["usage"] == [
        {"model": "claude", "inputUsage": 7, "outputUsage": 8, "totalUsage": 15, "countObservations": 1,
         "countTraces": 1, "totalCost": 0.0},
        {"model": "gpt-4o", "inputUsage": 121, "outputUsage": 7, "totalUsage": 128, "countObservations": 3,
         "countTraces": 3, "totalCost": pytest.approx(0.521)},
        {"model": None, "inputUsage": 0, "outputUsage": 0, "totalUsage": 0, "countObservations": 1,
         "countTraces": 1, "totalCost": 0.0},
    ]
    assert (yesterday["countTraces"], yesterday["countObservations"], yesterday["usage"]) == (1, 0, [])


async def test_daily_metrics_filters_apply_to_the_trace(
    client: Client, resources: Resources, project: TestProject
) -> None:
    await seed_metrics(resources, project.id)

    async def summary(params: Any) -> list[tuple[str, int, int]]:
        body = await ok(client, project, METRICS, params, specs=SPECS[:1])
        return [(d["date"], d["countTraces"], d["countObservations"]) for d in body["data"]]

    assert await summary({"userId": "alice"}) == [(day(0), 1, 3), (day(-1), 1, 0)]
    assert await summary({"traceName": "chat", "tags": "a"}) == [(day(0), 2, 4)]
    assert await summary([("tags", "a"), ("tags", "b")]) == [(day(0), 1, 2)]
    assert await summary({"environment": "prod"}) == [(day(0), 1, 2)]
    assert await summary({"fromTimestamp": (T0 - DAY).isoformat(), "toTimestamp": T0.isoformat()}) == [
        (day(0), 0, 1), (day(-1), 1, 0)]
    assert await summary({"userId": "nobody"}) == []


async def test_daily_metrics_pages_by_day(client: Client, resources: Resources, project: TestProject) -> None:
    await seed_metrics(resources, project.id)
    body = await ok(client, project, METRICS, {"limit": 2, "page": 2}, specs=SPECS[:1])
    assert [d["date"] for d in body["data"]] == [day(-2)]
    assert body["meta"] == {"page": 2, "limit": 2, "totalItems": 3, "totalPages": 2}


async def test_metrics_of_another_project_are_invisible_and_follow_new_data(
    client: Client, resources: Resources, project: TestProject, other_project: TestProject
) -> None:
    await seed_metrics(resources, project.id)
    body = await ok(client, other_project, METRICS, specs=SPECS[:1])
    assert body["data"] == [] and body["meta"]["totalItems"] == 0
    await insert_each(resources.clickhouse, "traces", rows.trace(other_project.id, "t-1", timestamp=ts(0)))
    body = await ok(client, other_project, METRICS, specs=SPECS[:1])
    assert [(d["date"], d["countTraces"]) for d in body["data"]] == [(day(0), 1)]


# --- parameters and auth -----------------------------------------------------------------------


@pytest.mark.parametrize(("path", "params", "name"), [
    (SESSIONS, {"limit": "101"}, "limit"), (SESSIONS, {"fromTimestamp": "soon"}, "fromTimestamp"),
    (METRICS, {"page": "0"}, "page"), (METRICS, {"toTimestamp": "2024-02-30T00:00:00Z"}, "toTimestamp"),
])
async def test_bad_parameters_are_400s_naming_them(
    client: Client, project: TestProject, path: str, params: dict[str, str], name: str
) -> None:
    status, body = await get(client, project, path, params)
    assert status == 400 and body["error"][0]["path"] == [name]


async def test_bearer_public_key_is_refused(client: Client, project: TestProject) -> None:
    for path in (SESSIONS, f"{SESSIONS}/s-1", METRICS):
        response = await client.get(path, headers=project.bearer)
        assert response.status_code == 401
        assert (await response.get_json())["message"] == "Access denied - need to use basic auth with secret key"
