"""GET /api/public/traces and /traces/{traceId} on rows seeded into ClickHouse (several versions per
id, tombstones, a moved sorting key) and model prices seeded into Postgres."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from langfuse_aio.runtime.resources import Resources
from langfuse_aio.storage.clickhouse.base import Row
from tests.factories import TestProject
from tests.support import rows
from tests.support.http import api_get as get
from tests.support.openapi import assert_valid_response
from tests.support.rows import DAY, T0, insert_each, ts

pytestmark = pytest.mark.integration

LIST = "/api/public/traces"
ONE = "/api/public/traces/{traceId}"
SPECS = ("openapi-v3.0.0.yml", "openapi-current.yml")




async def listed(client: Client, project: TestProject, params: Any = None) -> dict[str, Any]:
    status, body = await get(client, project, LIST, params)
    assert status == 200, body
    for spec in SPECS:
        assert_valid_response(body, LIST, spec=spec)
    return body  # type: ignore[no-any-return]


def ids(body: dict[str, Any]) -> list[str]:
    return [item["id"] for item in body["data"]]


async def seed_filters(res: Resources, p: str) -> None:
    """t-1 … t-6, newest first by timestamp; t-gone deleted; t-renamed renamed by a later version."""
    renamed = rows.trace(p, "t-renamed", name="before", timestamp=ts(-100), event_ts=ts(0))
    gone = rows.trace(p, "t-gone", name="alpha", timestamp=ts(50), event_ts=ts(0))
    await insert_each(
        res.clickhouse, "traces",
        rows.trace(p, "t-1", name="alpha", user_id="alice", session_id="s-1", tags=["a", "b"], release="r1",
                   version="v1", timestamp=ts(60), environment="production", bookmarked=True),
        rows.trace(p, "t-2", name="beta", user_id="bob", session_id="s-1", tags=["a"], release="r2", version="v1",
                   timestamp=ts(40), public=True),
        rows.trace(p, "t-3", name="alpha", user_id="alice", tags=["b"], timestamp=ts(20), environment="dev"),
        rows.trace(p, "t-4", name="gamma", tags=["a", "b", "c"], timestamp=ts(0) - DAY, release="r1"),
        rows.trace(p, "t-5", name="alpha", timestamp=ts(0) - 3 * DAY, version="v2", input='{"q": 1}',
                   output="plain", metadata={"k": '{"n": 1}', "s": "text"}),
        rows.trace(p, "t-6", name="delta", user_id="carol", timestamp=ts(0) - 40 * DAY),
        renamed, renamed | {"name": "after", "user_id": "alice", "event_ts": ts(1)},
        gone, rows.tombstone(gone, ts(1)),
    )


async def test_list_filters_on_the_latest_version(
    client: Client, resources: Resources, project: TestProject
) -> None:
    await seed_filters(resources, project.id)
    body = await listed(client, project)
    assert ids(body) == ["t-1", "t-2", "t-3", "t-renamed", "t-4", "t-5", "t-6"]
    assert body["meta"] == {"page": 1, "limit": 50, "totalItems": 7, "totalPages": 1}

    cases: list[tuple[Any, list[str]]] = [
        ({"userId": "alice"}, ["t-1", "t-3", "t-renamed"]),
        ({"name": "alpha"}, ["t-1", "t-3", "t-5"]),  # t-gone is deleted
        ({"name": "before"}, []),  # only an older version of t-renamed had it
        ({"name": "after"}, ["t-renamed"]),
        ({"sessionId": "s-1"}, ["t-1", "t-2"]),
        ({"version": "v1"}, ["t-1", "t-2"]),
        ({"release": "r1"}, ["t-1", "t-4"]),
        ({"tags": "a"}, ["t-1", "t-2", "t-4"]),
        ({"tags": "a,b"}, ["t-1", "t-4"]),
        ([("tags", "b"), ("tags", "c")], ["t-4"]),
        ({"tags": ""}, ["t-1", "t-2", "t-3", "t-renamed", "t-4", "t-5", "t-6"]),
        ({"environment": "production"}, ["t-1"]),
        ([("environment", "dev"), ("environment", "production")], ["t-1", "t-3"]),
        ({"environment": "default,dev"}, ["t-2", "t-3", "t-renamed", "t-4", "t-5", "t-6"]),
        ({"fromTimestamp": rows.T0.isoformat()}, ["t-1", "t-2", "t-3"]),
        ({"fromTimestamp": ts(20).isoformat(), "toTimestamp": ts(60).isoformat()}, ["t-2", "t-3"]),
        ({"toTimestamp": (T0 - 2 * DAY).isoformat()}, ["t-5", "t-6"]),
        ({"userId": "alice", "name": "alpha", "tags": "b"}, ["t-1", "t-3"]),
        ({"userId": "nobody"}, []),
    ]
    for params, expected in cases:
        body = await listed(client, project, params)
        assert ids(body) == expected, params
        assert body["meta"]["totalItems"] == len(expected), params


async def test_order_by_each_field(client: Client, resources: Resources, project: TestProject) -> None:
    await seed_filters(resources, project.id)
    live = {"t-1", "t-2", "t-3", "t-renamed", "t-4", "t-5", "t-6"}
    expectations = {
        "timestamp.asc": ["t-6", "t-5", "t-4", "t-renamed", "t-3", "t-2", "t-1"],
        "id.desc": sorted(live, reverse=True),
        "name.asc": ["t-renamed", "t-1", "t-3", "t-5", "t-2", "t-6", "t-4"],  # ties on name: id asc
        "userId.asc": ["t-1", "t-3", "t-renamed", "t-2", "t-6", "t-4", "t-5"],  # NULLs last
        "userId.desc": ["t-6", "t-2", "t-renamed", "t-3", "t-1", "t-5", "t-4"],  # NULLs last here too
        "release.desc": ["t-2", "t-4", "t-1", "t-renamed", "t-6", "t-5", "t-3"],
        "version.asc": ["t-1", "t-2", "t-5", "t-3", "t-4", "t-6", "t-renamed"],
        "public.desc": ["t-2", "t-renamed", "t-6", "t-5", "t-4", "t-3", "t-1"],
        "bookmarked.desc": ["t-1", "t-renamed", "t-6", "t-5", "t-4", "t-3", "t-2"],
        "sessionId.asc": ["t-1", "t-2", "t-3", "t-4", "t-5", "t-6", "t-renamed"],
    }
    for order, expected in expectations.items():
        assert ids(await listed(client, project, {"orderBy": order})) == expected, order
    assert ids(await listed(client, project, {"orderBy": "name.asc", "limit": 2, "page": 2})) == ["t-3", "t-5"]


async def test_pages_and_meta(client: Client, resources: Resources, project: TestProject) -> None:
    await seed_filters(resources, project.id)
    pages = [await listed(client, project, {"limit": 3, "page": n}) for n in (1, 2, 3, 4)]
    assert [ids(b) for b in pages] == [["t-1", "t-2", "t-3"], ["t-renamed", "t-4", "t-5"], ["t-6"], []]
    for n, body in enumerate(pages, start=1):
        assert body["meta"] == {"page": n, "limit": 3, "totalItems": 7, "totalPages": 3}


@pytest.mark.parametrize(("params", "name"), [
    ({"limit": "101"}, "limit"), ({"limit": "0"}, "limit"), ({"page": "0"}, "page"), ({"page": "x"}, "page"),
    ({"orderBy": "name"}, "orderBy"), ({"orderBy": "input.asc"}, "orderBy"), ({"orderBy": "name.sideways"}, "orderBy"),
    ({"fromTimestamp": "last tuesday"}, "fromTimestamp"), ({"toTimestamp": "2024-13-01"}, "toTimestamp"),
    ({"filter": '[{"column": "name"}]'}, "filter"),
])
async def test_bad_parameters_are_400s_naming_them(
    client: Client, project: TestProject, params: dict[str, str], name: str
) -> None:
    status, body = await get(client, project, LIST, params)
    assert status == 400 and name in body["message"]
    assert body["error"][0]["path"] == [name]


async def test_list_items_carry_observation_and_score_figures(
    client: Client, resources: Resources, project: TestProject
) -> None:
    p, ch = project.id, resources.clickhouse
    await insert_each(ch, "traces", rows.trace(p, "t-a", timestamp=ts(100)), rows.trace(p, "t-b", timestamp=ts(0)))
    gen = rows.observation(p, "o-2", "t-a", type="GENERATION", start_time=ts(101), end_time=ts(104.5),
                           total_cost=Decimal("0.25"), event_ts=ts(1))
    await insert_each(
        ch, "observations",
        rows.observation(p, "o-1", "t-a", start_time=ts(100), end_time=ts(102)),
        gen, gen | {"total_cost": Decimal("0.5"), "event_ts": ts(2)},  # the later version counts, once
        rows.observation(p, "o-3", "t-a", type="EVENT", start_time=ts(103), cost_details={"total": Decimal("0.125")}),
        rows.observation(p, "o-early", "t-a", start_time=ts(100 - 3601), total_cost=Decimal("9")),  # > 1 h before
        rows.tombstone(rows.observation(p, "o-gone", "t-a", start_time=ts(105)), ts(5)),
        rows.observation(p, "o-b", "t-b", start_time=ts(0)),
    )
    await insert_each(
        ch, "scores",
        rows.score(p, "s-1", "t-a", timestamp=ts(110)),
        rows.score(p, "s-2", "t-a", timestamp=ts(120), data_type="BOOLEAN", value=1.0, string_value="True"),
        rows.score(p, "s-bad", "t-a", data_type="CATEGORICAL", string_value=None),  # not renderable
        rows.tombstone(rows.score(p, "s-gone", "t-a"), ts(5)),
    )
    body = await listed(client, project)
    a, b = body["data"]
    assert a["id"] == "t-a" and a["htmlPath"] == f"/project/{p}/traces/t-a"
    assert a["observations"] == ["o-1", "o-2", "o-3"]  # by start time
    assert a["scores"] == ["s-2", "s-1"]  # newest first
    assert a["latency"] == pytest.approx(4.5) and a["totalCost"] == pytest.approx(0.625)
    assert b["observations"] == ["o-b"] and b["scores"] == [] and b["latency"] == 0 and b["totalCost"] == 0

    status, detail = await get(client, project, f"{LIST}/t-a")
    assert status == 200
    assert [o["id"] for o in detail["observations"]] == a["observations"]
    assert [s["id"] for s in detail["scores"]] == a["scores"]
    assert (detail["latency"], detail["totalCost"]) == (a["latency"], a["totalCost"])


async def test_item_fields_are_json_values(client: Client, resources: Resources, project: TestProject) -> None:
    await seed_filters(resources, project.id)
    item = next(i for i in (await listed(client, project))["data"] if i["id"] == "t-5")
    assert item["input"] == {"q": 1} and item["output"] == "plain" and item["metadata"] == {"k": {"n": 1}, "s": "text"}
    assert item["timestamp"] == "2024-11-02T10:11:12.345Z" and item["version"] == "v2"
    assert item["environment"] == "default"
    assert item["tags"] == [] and item["public"] is False and item["externalId"] is None


async def test_pages_deep_in_a_large_project_match_a_full_sort(
    client: Client, resources: Resources, project: TestProject
) -> None:
    """Several hundred traces over two months, with extra versions: every page and order agrees with
    sorting the latest versions in Python (the windowed page reads and their growth included)."""
    p, rnd = project.id, random.Random(7)
    latest: dict[str, Row] = {}
    batch: list[Row] = []
    for n in range(420):
        trace_id = f"tr-{n:04d}"
        stamp = T0 - timedelta(minutes=rnd.randrange(60 * 24 * 60))
        row = rows.trace(p, trace_id, timestamp=stamp, name=rnd.choice(["x", "y", "z"]),
                         user_id=rnd.choice([None, "u1", "u2"]), tags=rnd.sample(["a", "b"], rnd.randrange(3)))
        batch.append(row)
        if n % 5 == 0:  # a later version, often on another day, with the old key tombstoned
            moved = row | {"timestamp": stamp + timedelta(hours=rnd.randrange(-60, 60)), "event_ts": ts(9),
                           "name": rnd.choice(["x", "y", "z"])}
            batch += [rows.tombstone(row, ts(8)), moved]  # as the worker: the tombstone before
            row = moved
        if n % 37 == 0:
            batch.append(rows.tombstone(row, ts(10)))
            continue
        latest[trace_id] = row
    for start in range(0, len(batch), 60):
        await resources.clickhouse.insert("traces", batch[start : start + 60])

    def expected(key: str, descending: bool, keep: Any = lambda r: True) -> list[str]:
        chosen = [r for r in latest.values() if keep(r)]
        chosen.sort(key=lambda r: r["id"], reverse=descending)
        present = [r for r in chosen if r[key] is not None]
        present.sort(key=lambda r: r[key], reverse=descending)
        return [r["id"] for r in present] + [r["id"] for r in chosen if r[key] is None]

    for order, key, descending, params, keep in [
        ("timestamp.desc", "timestamp", True, {}, lambda r: True),
        ("timestamp.asc", "timestamp", False, {}, lambda r: True),
        ("timestamp.desc", "timestamp", True, {"tags": "a"}, lambda r: "a" in r["tags"]),
        ("userId.desc", "user_id", True, {"name": "x"}, lambda r: r["name"] == "x"),
        ("name.asc", "name", False, {}, lambda r: True),
    ]:
        want = expected(key, descending, keep)
        for limit, page in [(50, 1), (7, 3), (100, 2), (40, 9)]:
            body = await listed(client, project, {"orderBy": order, "limit": limit, "page": page, **params})
            assert ids(body) == want[(page - 1) * limit : page * limit], (order, params, limit, page)
            assert body["meta"]["totalItems"] == len(want), (order, params)


async def test_total_follows_new_data_at_once(client: Client, resources: Resources, project: TestProject) -> None:
    p = project.id
    await insert_each(resources.clickhouse, "traces", *(rows.trace(p, f"t-{n}", timestamp=ts(n)) for n in range(4)))
    assert (await listed(client, project, {"limit": 2}))["meta"]["totalItems"] == 4
    assert (await listed(client, project, {"limit": 2}))["meta"]["totalItems"] == 4
    await insert_each(resources.clickhouse, "traces", rows.trace(p, "t-new", timestamp=ts(9)),
                      rows.tombstone(rows.trace(p, "t-0", timestamp=ts(0)), ts(5)))
    body = await listed(client, project, {"limit": 2})
    assert body["meta"]["totalItems"] == 4 and ids(body) == ["t-new", "t-3"]


# --- one trace ---------------------------------------------------------------------------------


async def add_model(res: Resources, project_id: str, prices: dict[str, str]) -> str:
    model_id = f"model-{uuid.uuid4().hex[:10]}"
    async with res.pg.connection() as conn:
        await conn.execute(
            "INSERT INTO models (id, project_id, model_name, match_pattern, unit) VALUES (%s, %s, %s, %s, 'TOKENS')",
            (model_id, project_id, "gpt-test", "(?i)^gpt-test$"),
        )
        for usage_type, price in prices.items():
            await conn.execute("INSERT INTO prices (id, model_id, usage_type, price) VALUES (%s, %s, %s, %s)",
                               (uuid.uuid4().hex, model_id, usage_type, Decimal(price)))
    return model_id


async def test_one_trace_with_prices_and_langfuses_window(
    client: Client, resources: Resources, project: TestProject
) -> None:
    p, ch = project.id, resources.clickhouse
    model_id = await add_model(resources, p, {"input": "0.000005", "output": "0.000015"})
    await insert_each(ch, "traces", rows.trace(p, "t-1", timestamp=ts(3600), input='{"a": [1]}'))
    await insert_each(
        ch, "observations",
        rows.observation(p, "o-gen", "t-1", type="GENERATION", start_time=ts(3601), end_time=ts(3603),
                         internal_model_id=model_id, provided_model_name="gpt-test"),
        rows.observation(p, "o-plain", "t-1", start_time=ts(1)),  # 59 min 59 s before the trace: kept
        rows.observation(p, "o-early", "t-1", start_time=ts(-1)),  # an hour and a second before: left out
    )
    await insert_each(ch, "scores", rows.score(p, "s-1", "t-1", timestamp=ts(3600)),
                      rows.score(p, "s-early", "t-1", timestamp=ts(-1)))
    status, body = await get(client, project, f"{LIST}/t-1")
    assert status == 200
    for spec in SPECS:
        assert_valid_response(body, ONE, spec=spec)
    assert body["input"] == {"a": [1]}
    observations = {o["id"]: o for o in body["observations"]}
    assert list(observations) == ["o-plain", "o-gen"] and [s["id"] for s in body["scores"]] == ["s-1"]
    gen, plain = observations["o-gen"], observations["o-plain"]
    assert (gen["modelId"], gen["inputPrice"], gen["outputPrice"], gen["totalPrice"]) == (model_id, 5e-06, 1.5e-05, 0)
    assert (plain["inputPrice"], plain["outputPrice"], plain["totalPrice"]) == (0, 0, 0)  # missing: 0, as Langfuse


async def test_a_deleted_or_missing_trace_is_a_404(client: Client, resources: Resources, project: TestProject) -> None:
    gone = rows.trace(project.id, "t-gone")
    await insert_each(resources.clickhouse, "traces", gone, rows.tombstone(gone, ts(1)))
    for trace_id in ("t-gone", "t-never"):
        status, body = await get(client, project, f"{LIST}/{trace_id}")
        assert status == 404 and body == {
            "message": f"Trace {trace_id} not found within authorized project", "error": "LangfuseNotFoundError"}


# --- isolation and auth ----------------------------------------------------------------------


async def test_another_projects_key_sees_nothing(
    client: Client, resources: Resources, project: TestProject, other_project: TestProject
) -> None:
    await seed_filters(resources, project.id)
    await insert_each(resources.clickhouse, "observations", rows.observation(project.id, "o-1", "t-1"))
    body = await listed(client, other_project)
    assert body["data"] == [] and body["meta"]["totalItems"] == 0
    assert ids(await listed(client, other_project, {"userId": "alice", "orderBy": "name.asc"})) == []
    status, _ = await get(client, other_project, f"{LIST}/t-1")
    assert status == 404


async def test_bearer_public_key_is_refused(client: Client, project: TestProject) -> None:
    for path in (LIST, f"{LIST}/t-1"):
        response = await client.get(path, headers=project.bearer)
        assert response.status_code == 401
        assert (await response.get_json())["message"] == "Access denied - need to use basic auth with secret key"
    assert (await client.get(LIST)).status_code == 401
