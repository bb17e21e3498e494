"""The official SDKs' read methods against the real `langfuse-aio` process.

One server for the module. A known trace (user, session, tags, a span, a generation with usage, an
event, three scores of the three data types) goes in through the ingestion API; then the Python SDK
2.x typed read methods and the 5.x API client (in its own environment, tests/support/sdk5.py) read
it back. Each SDK parses every response into its pydantic models, so a missing or mistyped field
fails here as it would for a user.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from langfuse import Langfuse

from tests.e2e.test_process import auth
from tests.support.external import free_port
from tests.support.sdk5 import run_sdk5_script
from tests.support.server import Server, kill_leftovers
from tests.support.waiting import eventually_sync

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

PUBLIC_KEY, SECRET_KEY = "pk-lf-sdk-reads", "sk-lf-sdk-reads"
INIT = {
    "LANGFUSE_INIT_ORG_ID": "reads-org", "LANGFUSE_INIT_PROJECT_ID": "reads-project",
    "LANGFUSE_INIT_PROJECT_PUBLIC_KEY": PUBLIC_KEY, "LANGFUSE_INIT_PROJECT_SECRET_KEY": SECRET_KEY,
}
RUN = uuid.uuid4().hex[:8]
TRACE_ID, SESSION_ID, USER_ID = f"trace-{RUN}", f"session-{RUN}", f"user-{RUN}"
SPAN_ID, GENERATION_ID, EVENT_ID = f"span-{RUN}", f"gen-{RUN}", f"event-{RUN}"
NOW = datetime.now(UTC).replace(microsecond=0)


def iso(offset_ms: int) -> str:
    return (NOW + timedelta(milliseconds=offset_ms)).isoformat().replace("+00:00", "Z")


def event(kind: str, body: dict[str, Any], offset_ms: int = 0) -> dict[str, Any]:
    return {"id": uuid.uuid4().hex, "type": kind, "timestamp": iso(offset_ms), "body": body}


BATCH = [
    event("trace-create", {"id": TRACE_ID, "name": "sdk-reads", "userId": USER_ID, "sessionId": SESSION_ID,
                           "tags": ["alpha", "beta"], "input": {"q": "hi"}, "output": "bye",
                           "metadata": {"k": "v"}, "timestamp": iso(0)}),
    event("span-create", {"id": SPAN_ID, "traceId": TRACE_ID, "name": "retrieve",
                          "startTime": iso(10), "endTime": iso(400)}),
    event("generation-create", {
        "id": GENERATION_ID, "traceId": TRACE_ID, "parentObservationId": SPAN_ID, "name": "llm",
        "model": "gpt-4o", "modelParameters": {"temperature": 0.2}, "startTime": iso(20),
        "completionStartTime": iso(120), "endTime": iso(300), "input": [{"role": "user", "content": "hi"}],
        "output": {"role": "assistant", "content": "bye"},
        "usage": {"input": 12, "output": 30, "total": 42, "unit": "TOKENS"},
    }),
    event("event-create", {"id": EVENT_ID, "traceId": TRACE_ID, "name": "cache-hit", "startTime": iso(30)}),
    event("score-create", {"id": f"s-num-{RUN}", "traceId": TRACE_ID, "name": "accuracy", "value": 0.9}),
    event("score-create", {"id": f"s-bool-{RUN}", "traceId": TRACE_ID, "name": "ok", "value": 1,
                           "dataType": "BOOLEAN"}),
    event("score-create", {"id": f"s-cat-{RUN}", "traceId": TRACE_ID, "observationId": GENERATION_ID,
                           "name": "tone", "value": "friendly"}),
]



@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("sdk-reads") / "data"
    srv = Server(data_dir, free_port(), INIT)
    try:
        srv.wait_healthy()
        response = httpx.post(f"{srv.url}/api/public/ingestion", json={"batch": BATCH},
                              headers=auth(PUBLIC_KEY, SECRET_KEY), timeout=10)
        assert response.status_code == 207 and response.json()["errors"] == [], response.text
        yield srv
    finally:
        srv.stop()
        kill_leftovers(data_dir)


@pytest.fixture(scope="module")
def v2(server: Server) -> Iterator[Langfuse]:
    http = httpx.Client(timeout=20)  # ours, so it is closed: the SDK's own client is never closed
    client = Langfuse(public_key=PUBLIC_KEY, secret_key=SECRET_KEY, host=server.url, release="reads",
                      httpx_client=http)
    trace = eventually_sync(lambda: client.fetch_trace(TRACE_ID).data,
                       lambda t: len(t.observations) == 3 and len(t.scores) == 3)
    assert trace.id == TRACE_ID
    yield client
    client.shutdown()
    http.close()


def test_v2_fetch_traces_with_filters(v2: Langfuse) -> None:
    found = v2.fetch_traces(user_id=USER_ID, tags=["alpha", "beta"], limit=10)
    assert [t.id for t in found.data] == [TRACE_ID]
    (trace,) = found.data
    assert (trace.name, trace.session_id, sorted(trace.tags or [])) == ("sdk-reads", SESSION_ID, ["alpha", "beta"])
    assert trace.input == {"q": "hi"} and trace.output == "bye" and trace.metadata == {"k": "v"}
    assert sorted(trace.observations) == sorted([SPAN_ID, GENERATION_ID, EVENT_ID])
    assert len(trace.scores) == 3
    assert trace.latency == pytest.approx(0.39, abs=0.002)  # first start (+10 ms) to last end (+400 ms)
    assert found.meta.total_items == 1 and found.meta.page == 1
    assert v2.fetch_traces(user_id=USER_ID, tags=["alpha", "missing"]).data == []
    assert v2.fetch_traces(name="no-such-name").meta.total_items == 0


def test_v2_fetch_observations_and_one_observation(v2: Langfuse) -> None:
    generations = v2.fetch_observations(trace_id=TRACE_ID, type="GENERATION").data
    assert [o.id for o in generations] == [GENERATION_ID]
    (generation,) = generations
    assert generation.model == "gpt-4o" and generation.parent_observation_id == SPAN_ID
    assert generation.usage is not None and (generation.usage.input, generation.usage.output) == (12, 30)
    # the 2.x SDK's MapValue has no float branch, so pydantic turns 0.2 into "0.2" on its side
    assert generation.model_parameters is not None and float(generation.model_parameters["temperature"]) == 0.2
    assert generation.time_to_first_token == pytest.approx(0.1, abs=0.002)
    every = v2.fetch_observations(trace_id=TRACE_ID).data
    assert {o.id for o in every} == {SPAN_ID, GENERATION_ID, EVENT_ID}
    one = v2.fetch_observation(EVENT_ID).data
    assert (one.id, one.type, one.name) == (EVENT_ID, "EVENT", "cache-hit")


def test_v2_sessions_scores_and_metrics(v2: Langfuse) -> None:
    sessions = v2.fetch_sessions(limit=50).data
    assert SESSION_ID in {s.id for s in sessions}
    session = v2.api.sessions.get(SESSION_ID)
    assert [t.id for t in session.traces] == [TRACE_ID]

    scores = v2.api.score.get(user_id=USER_ID, limit=50).data
    by_name = {s.name: s for s in scores}
    assert set(by_name) == {"accuracy", "ok", "tone"}
    assert by_name["accuracy"].value == pytest.approx(0.9)
    assert by_name["ok"].string_value == "True" and by_name["tone"].string_value == "friendly"
    assert v2.api.score.get_by_id(f"s-num-{RUN}").trace_id == TRACE_ID
    high = v2.api.score.get(user_id=USER_ID, operator=">", value=0.95, data_type="NUMERIC").data
    assert high == []

    daily = v2.api.metrics.daily(user_id=USER_ID)
    (day,) = daily.data
    assert day.date.isoformat() == NOW.date().isoformat()
    assert (day.count_traces, day.count_observations) == (1, 3)
    models = {u.model: u for u in day.usage}
    assert models["gpt-4o"].input_usage == 12 and models["gpt-4o"].total_usage == 42


def test_v5_api_client_reads_and_posts_scores(server: Server, v2: Langfuse) -> None:
    out = run_sdk5_script(Path(__file__).with_name("sdk5_read_calls.py"), server.url, PUBLIC_KEY, SECRET_KEY,
                          TRACE_ID)
    assert out["auth_check"] is True and out["health"]["status"] == "OK"
    observations = {o["id"]: o for o in out["observations"]}
    assert set(observations) == {SPAN_ID, GENERATION_ID, EVENT_ID}
    generation = observations[GENERATION_ID]
    assert generation["type"] == "GENERATION" and generation["traceId"] == TRACE_ID
    assert out["first_page"]["cursor"] and len(out["first_page"]["ids"]) == 1
    assert set(out["first_page"]["ids"]).isdisjoint(out["second_page_ids"])
    scores = {s["name"]: s for s in out["scores"]}
    assert {"accuracy", "ok", "tone"} <= set(scores)
    assert scores["ok"]["value"] is True and scores["tone"]["value"] == "friendly"
    assert out["config_by_id"]["id"] == out["config"]["id"] in out["config_ids"]
    assert out["config"]["maxValue"] == 1

    posted = eventually_sync(lambda: v2.fetch_trace(TRACE_ID).data,
                        lambda t: {"sdk5-score", "sdk5-flag"} <= {s.name for s in t.scores})
    by_id = {s.id: s for s in posted.scores}
    assert by_id["sdk5-score-1"].value == pytest.approx(0.75)
    assert by_id["sdk5-score-2"].string_value == "True"
