"""The official Langfuse Python SDK 2.x (`langfuse==2.60.*`) against the real `langfuse-aio` process.

One server for the module (embedded stores, headless-init keys). The SDK is driven as a user drives
it — low-level client and `@observe` decorator — then everything is read back through the SDK's own
typed read methods (`fetch_trace`, `api.trace.get`), so a response the SDK's pydantic models reject
fails here. Every ingestion request the SDK sends is recorded (through the SDK's `httpx_client`
option): the SDK drops a 4xx batch silently, so each one must be a 207 acknowledging every event.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from langfuse import Langfuse
from langfuse.api import CreateScoreRequest
from langfuse.api.resources.commons.errors.not_found_error import NotFoundError
from langfuse.api.resources.commons.types.observations_view import ObservationsView
from langfuse.api.resources.commons.types.trace_with_full_details import TraceWithFullDetails
from langfuse.decorators import langfuse_context, observe
from langfuse.utils.langfuse_singleton import LangfuseSingleton

from tests.support.external import free_port
from tests.support.server import Server, kill_leftovers

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

ORG_ID, PROJECT_ID = "sdk-v2-org", "sdk-v2-project"
PUBLIC_KEY, SECRET_KEY = "pk-lf-sdk-v2", "sk-lf-sdk-v2"
INIT_ENV = {
    "LANGFUSE_INIT_ORG_ID": ORG_ID, "LANGFUSE_INIT_ORG_NAME": "SDK v2 Org",
    "LANGFUSE_INIT_PROJECT_ID": PROJECT_ID, "LANGFUSE_INIT_PROJECT_NAME": "SDK v2 Project",
    "LANGFUSE_INIT_PROJECT_PUBLIC_KEY": PUBLIC_KEY, "LANGFUSE_INIT_PROJECT_SECRET_KEY": SECRET_KEY,
}
RELEASE = "sdk-v2-release"  # explicit: the SDK would otherwise pick up CI variables such as GITHUB_SHA
ENVIRONMENT = "sdk-e2e"
VISIBLE_WITHIN = 20.0  # seconds; ingestion is asynchronous, normally visible within a few


# --- fixtures -------------------------------------------------------------------------------


class IngestionRecorder(logging.Handler):
    """Every POST /api/public/ingestion the SDK made (the events it sent and the server's answer), and
    every warning or error the SDK logged (it logs, never raises, when a batch or a body fails)."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self._lock = threading.Lock()
        self.exchanges: list[tuple[list[dict[str, Any]], int, Any]] = []
        self.sdk_log: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.sdk_log.append(f"{record.levelname}: {record.getMessage()}")

    def on_response(self, response: httpx.Response) -> None:
        if response.request.url.path != "/api/public/ingestion":
            return
        response.read()
        sent = json.loads(response.request.content)["batch"]
        try:
            body = response.json()
        except ValueError:
            body = response.text
        with self._lock:
            self.exchanges.append((sent, response.status_code, body))

    def sent(self) -> list[dict[str, Any]]:
        with self._lock:
            return [event for batch, _, _ in self.exchanges for event in batch]

    def assert_all_accepted(self) -> None:
        with self._lock:
            exchanges = list(self.exchanges)
        assert self.sdk_log == []
        assert exchanges, "the SDK sent nothing"
        for batch, status, body in exchanges:
            assert status == 207, (status, body)
            assert body["errors"] == [], body["errors"]
            # every event acknowledged once (the order of `successes` is not part of the contract)
            assert sorted(body["successes"], key=lambda s: s["id"]) == sorted(
                ({"id": event["id"], "status": 201} for event in batch), key=lambda s: s["id"])


@pytest.fixture(scope="module", autouse=True)
def _no_sdk_env() -> Iterator[None]:
    """The SDK reads LANGFUSE_* (host, keys, environment, sample rate, release) from the environment."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("LANGFUSE_")]:
            patch.delenv(name)
        yield


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("sdk-v2") / "data"
    srv = Server(data_dir, free_port(), INIT_ENV)
    try:
        srv.wait_healthy()
        yield srv
    finally:
        if srv.proc.poll() is None:
            code, _, _ = srv.stop()
            assert code == 0, srv.log.read_text()[-4000:]
        kill_leftovers(data_dir)


@pytest.fixture(scope="module")
def recorder() -> Iterator[IngestionRecorder]:
    recorder = IngestionRecorder()
    sdk_logger = logging.getLogger("langfuse")
    sdk_logger.addHandler(recorder)
    yield recorder
    sdk_logger.removeHandler(recorder)


@pytest.fixture(scope="module")
def langfuse(server: Server, recorder: IngestionRecorder) -> Iterator[Langfuse]:
    http = httpx.Client(timeout=20, event_hooks={"response": [recorder.on_response]})
    client = Langfuse(public_key=PUBLIC_KEY, secret_key=SECRET_KEY, host=server.url, release=RELEASE,
                      environment=ENVIRONMENT, sample_rate=1.0, httpx_client=http)
    yield client
    client.shutdown()
    http.close()


@pytest.fixture(scope="module")
def decorated(server: Server, recorder: IngestionRecorder) -> Iterator[Langfuse]:
    """`langfuse_context` configured for this server; yields its client (for reads)."""
    http = httpx.Client(timeout=20, event_hooks={"response": [recorder.on_response]})
    langfuse_context.configure(public_key=PUBLIC_KEY, secret_key=SECRET_KEY, host=server.url, release=RELEASE,
                               httpx_client=http)
    yield langfuse_context.client_instance
    LangfuseSingleton().reset()  # flushes and joins the SDK's threads
    http.close()


# --- helpers --------------------------------------------------------------------------------


def ms_floor(value: datetime) -> datetime:
    """The API reports milliseconds (truncated): compare our clock readings at that precision."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def read_back(client: Langfuse, trace_id: str, check: Callable[[TraceWithFullDetails], None]) -> TraceWithFullDetails:
    """`fetch_trace` until `check` passes (ingestion is asynchronous); the last failure if it never does.

    Only "not there yet" is retried (404, a failed assertion): an SDK parse error surfaces at once."""
    deadline = time.monotonic() + VISIBLE_WITHIN
    while True:
        try:
            trace = client.fetch_trace(trace_id).data
            check(trace)
            return trace
        except (NotFoundError, AssertionError):
            if time.monotonic() > deadline:
                raise
        time.sleep(0.1)


def by_name(observations: list[ObservationsView]) -> dict[str, ObservationsView]:
    names = Counter(o.name for o in observations)
    assert all(n == 1 for n in names.values()), f"duplicated observations: {names}"
    return {o.name: o for o in observations if o.name is not None}


def assert_unique_ids(trace: TraceWithFullDetails) -> None:
    observation_ids = [o.id for o in trace.observations]
    score_ids = [s.id for s in trace.scores]
    assert len(set(observation_ids)) == len(observation_ids), observation_ids
    assert len(set(score_ids)) == len(score_ids), score_ids


def assert_ordered(*times: datetime | None) -> None:
    assert all(t is not None for t in times), times
    assert list(times) == sorted(times), times  # type: ignore[type-var]


# --- tests ----------------------------------------------------------------------------------


def test_auth_check_health_and_project(langfuse: Langfuse) -> None:
    assert langfuse.auth_check() is True
    projects = langfuse.client.projects.get()
    assert [(p.id, p.name) for p in projects.data] == [(PROJECT_ID, "SDK v2 Project")]
    health = langfuse.api.health.health()
    assert health.status == "OK" and health.version


def test_low_level_client_round_trip(langfuse: Langfuse, recorder: IngestionRecorder) -> None:
    before = ms_floor(datetime.now(UTC))
    trace = langfuse.trace(
        name="sdk-v2-e2e", input={"question": "What is 2+2?", "history": []}, user_id="user-1",
        session_id="session-1", version="v-1", metadata={"env": "e2e", "nested": {"a": 1}}, tags=["first"],
    )
    root = trace.span(name="answer", input={"question": "What is 2+2?"}, metadata={"step": 1})
    retrieve = root.span(name="retrieve", input={"query": "2+2"}, level="DEBUG")
    event = retrieve.event(name="cache-miss", input={"key": "2+2"}, level="WARNING", status_message="cache is cold",
                   metadata={"cache": "valkey"})
    retrieve.end(output={"docs": ["arithmetic.md", "numbers.md"]})

    draft = root.generation(
        name="draft", model="gpt-4o-mini", model_parameters={"temperature": 0.2, "max_tokens": 50},
        input=[{"role": "user", "content": "What is 2+2?"}],
        usage={"input": 10, "output": 5, "unit": "TOKENS"},
    )
    draft.update(completion_start_time=datetime.now(UTC))
    draft.end(output={"role": "assistant", "content": "4?"})

    final = root.generation(name="final", model="gpt-4o", input="Answer tersely: 2+2",
                            metadata={"attempt": 1})
    final.update(usage_details={"input": 100, "output": 40, "input_cached": 25},
                 cost_details={"input": 0.001, "output": 0.002}, metadata={"provider": "openai"})
    final.end(output="The answer is 4.")

    tool = root.span(name="calculator", input={"expr": "2+2"})
    tool.end(level="ERROR", status_message="calculator timed out")
    root.end(output={"answer": 4})

    trace.update(output={"answer": 4, "confidence": "high"}, metadata={"nested": {"b": 2}, "stage": "done"},
                 tags=["second"], user_id="user-2", session_id="session-2", release="r-2")

    trace.score(name="quality", value=0.87, comment="looks right")
    langfuse.score(trace_id=trace.id, name="correct", value=1, data_type="BOOLEAN", comment="checked")
    langfuse.score(trace_id=trace.id, name="topic", value="math", data_type="CATEGORICAL")
    trace.score(name="tone", value="friendly")  # no data type: a string value is CATEGORICAL
    final.score(name="hallucination", value=0, data_type="BOOLEAN")
    langfuse.score(trace_id=trace.id, observation_id=tool.id, name="retries", value=3)
    for value in (0.1, 0.2):  # the same score id twice: one score, the later value
        langfuse.score(id=f"rerun-{trace.id}", trace_id=trace.id, name="rerun", value=value)
    # the low-level API client's synchronous POST /api/public/scores
    created = langfuse.api.score.create(request=CreateScoreRequest(
        trace_id=trace.id, observation_id=draft.id, name="api-score", value="great", data_type="CATEGORICAL",
        comment="via api", environment=ENVIRONMENT))
    langfuse.flush()
    after = datetime.now(UTC)
    recorder.assert_all_accepted()

    def complete(t: TraceWithFullDetails) -> None:
        assert len(t.observations) == 6 and len(t.scores) == 8
        assert t.name == "sdk-v2-e2e" and t.output is not None and t.user_id == "user-2"
        got = {o.name: o for o in t.observations}
        assert all(got[name].end_time for name in ("answer", "retrieve", "draft", "final", "calculator"))
        assert got["final"].usage_details and got["draft"].output and got["draft"].completion_start_time
        assert next(s for s in t.scores if s.name == "rerun").value == 0.2

    got = read_back(langfuse, trace.id, complete)
    assert_unique_ids(got)

    # the low-level Fern client (`langfuse.client` is the legacy alias of `langfuse.api`) reads the same
    assert langfuse.api.trace.get(trace.id) == got
    assert langfuse.client.trace.get(trace.id) == got

    # -- trace
    assert got.id == trace.id and got.name == "sdk-v2-e2e"
    assert got.input == {"question": "What is 2+2?", "history": []}
    assert got.output == {"answer": 4, "confidence": "high"}
    assert got.metadata == {"env": "e2e", "nested": {"a": 1, "b": 2}, "stage": "done"}
    assert got.tags == ["first", "second"]  # tags are merged, never removed by the API
    assert got.user_id == "user-2" and got.session_id == "session-2"
    assert got.release == "r-2" and got.version == "v-1"
    assert got.environment == ENVIRONMENT and got.public is False
    assert got.html_path == f"/project/{PROJECT_ID}/traces/{trace.id}"
    # "final" brought its own cost (0.003); "draft" is priced from the managed gpt-4o-mini model
    assert got.total_cost == pytest.approx(0.003 + 10 * 0.00000015 + 5 * 0.0000006)

    # -- observations: tree, types, values
    obs = by_name(got.observations)
    assert set(obs) == {"answer", "retrieve", "cache-miss", "draft", "final", "calculator"}
    assert {name: o.id for name, o in obs.items()} == {
        "answer": root.id, "retrieve": retrieve.id, "cache-miss": event.id, "draft": draft.id, "final": final.id,
        "calculator": tool.id}
    expected_types = {"answer": "SPAN", "retrieve": "SPAN", "cache-miss": "EVENT", "draft": "GENERATION",
                      "final": "GENERATION", "calculator": "SPAN"}
    assert {name: o.type for name, o in obs.items()} == expected_types
    assert all(o.trace_id == trace.id for o in got.observations)
    assert all(o.environment == ENVIRONMENT for o in got.observations)
    parents = {name: o.parent_observation_id for name, o in obs.items()}
    assert parents == {"answer": None, "retrieve": root.id, "cache-miss": retrieve.id, "draft": root.id,
                       "final": root.id, "calculator": root.id}

    assert obs["answer"].input == {"question": "What is 2+2?"} and obs["answer"].output == {"answer": 4}
    assert obs["answer"].metadata == {"step": 1}
    assert obs["retrieve"].input == {"query": "2+2"}
    assert obs["retrieve"].output == {"docs": ["arithmetic.md", "numbers.md"]}
    assert obs["cache-miss"].input == {"key": "2+2"} and obs["cache-miss"].output is None
    assert obs["cache-miss"].metadata == {"cache": "valkey"}
    assert obs["draft"].input == [{"role": "user", "content": "What is 2+2?"}]
    assert obs["draft"].output == {"role": "assistant", "content": "4?"}
    assert obs["final"].input == "Answer tersely: 2+2" and obs["final"].output == "The answer is 4."
    assert obs["final"].metadata == {"attempt": 1, "provider": "openai"}
    assert obs["calculator"].input == {"expr": "2+2"} and obs["calculator"].output is None

    # -- levels and status messages
    levels = {name: (o.level.value, o.status_message) for name, o in obs.items()}
    assert levels == {"answer": ("DEFAULT", None), "retrieve": ("DEBUG", None),
                      "cache-miss": ("WARNING", "cache is cold"), "draft": ("DEFAULT", None),
                      "final": ("DEFAULT", None), "calculator": ("ERROR", "calculator timed out")}

    # -- models and usage
    draft_read, final_read = obs["draft"], obs["final"]
    assert draft_read.model == "gpt-4o-mini"
    assert draft_read.model_parameters == {"temperature": "0.2", "max_tokens": 50}  # py 2 sends floats as text
    assert draft_read.usage is not None and final_read.usage is not None
    assert (draft_read.usage.input, draft_read.usage.output, draft_read.usage.total) == (10, 5, 15)
    assert draft_read.usage.unit is not None and draft_read.usage.unit.value == "TOKENS"
    assert draft_read.usage_details == {"input": 10, "output": 5, "total": 15}
    # no cost provided: usage times the managed gpt-4o-mini prices (input 0.15 $/M, output 0.6 $/M)
    assert draft_read.cost_details == pytest.approx({"input": 0.0000015, "output": 0.000003, "total": 0.0000045})
    assert draft_read.model_id == "lfaio-gpt-4o-mini" and draft_read.input_price == pytest.approx(0.00000015)
    assert final_read.model == "gpt-4o" and final_read.model_parameters is None
    assert final_read.usage_details == {"input": 100, "output": 40, "input_cached": 25, "total": 165}
    assert (final_read.usage.input, final_read.usage.output, final_read.usage.total) == (125, 40, 165)
    assert final_read.cost_details == pytest.approx({"input": 0.001, "output": 0.002, "total": 0.003})
    assert final_read.calculated_input_cost == pytest.approx(0.001)
    assert final_read.calculated_output_cost == pytest.approx(0.002)
    assert final_read.calculated_total_cost == pytest.approx(0.003)
    for name in ("answer", "retrieve", "cache-miss", "calculator"):
        assert obs[name].model is None and obs[name].usage_details == {} and obs[name].cost_details == {}

    # -- timestamps: present, in call order, within the run
    assert_ordered(before, got.timestamp, obs["answer"].start_time, obs["retrieve"].start_time,
                   obs["cache-miss"].start_time, obs["retrieve"].end_time, obs["draft"].start_time,
                   draft_read.completion_start_time, obs["draft"].end_time, obs["final"].start_time,
                   obs["final"].end_time, obs["calculator"].start_time, obs["calculator"].end_time,
                   obs["answer"].end_time, after)
    assert draft_read.time_to_first_token == pytest.approx(
        (draft_read.completion_start_time - draft_read.start_time).total_seconds())  # type: ignore[operator]
    for o in got.observations:
        if o.end_time is not None:
            assert o.latency == pytest.approx((o.end_time - o.start_time).total_seconds())
    times = [t for o in got.observations for t in (o.start_time, o.end_time) if t is not None]
    assert got.latency == pytest.approx((max(times) - min(times)).total_seconds())

    # -- scores
    scores = {s.name: s for s in got.scores}
    assert set(scores) == {"quality", "correct", "topic", "tone", "hallucination", "retries", "rerun", "api-score"}
    assert all(s.trace_id == trace.id and s.source.value == "API" for s in got.scores)
    assert all(s.environment == ENVIRONMENT for s in got.scores)
    assert all(before <= s.timestamp <= after for s in got.scores)
    shapes = {name: (s.data_type, s.value, getattr(s, "string_value", None), s.comment, s.observation_id)
              for name, s in scores.items() if s.data_type != "CATEGORICAL"}
    assert shapes == {
        "quality": ("NUMERIC", 0.87, None, "looks right", None),
        "correct": ("BOOLEAN", 1.0, "True", "checked", None),
        "hallucination": ("BOOLEAN", 0.0, "False", None, final.id),
        "retries": ("NUMERIC", 3.0, None, None, tool.id),
        "rerun": ("NUMERIC", 0.2, None, None, None),
    }
    categorical = {name: (s.data_type, getattr(s, "string_value", None), s.comment, s.observation_id)
                   for name, s in scores.items() if name in ("topic", "tone", "api-score")}
    assert categorical == {"topic": ("CATEGORICAL", "math", None, None),
                           "tone": ("CATEGORICAL", "friendly", None, None),
                           "api-score": ("CATEGORICAL", "great", "via api", draft.id)}
    assert all(scores[name].value in (None, 0.0) for name in categorical)
    assert scores["rerun"].id == f"rerun-{trace.id}" and scores["api-score"].id == created.id

    # -- exactly what the SDK sent, once each
    sent = Counter(e["type"] for e in recorder.sent() if e["body"].get("traceId", e["body"].get("id")) == trace.id)
    assert sent == {"trace-create": 2, "span-create": 3, "span-update": 3, "event-create": 1,
                    "generation-create": 2, "generation-update": 4, "score-create": 8}


def test_observe_decorator_round_trip(decorated: Langfuse, recorder: IngestionRecorder) -> None:
    ids: dict[str, str | None] = {}

    @observe()
    def embed(text: str) -> list[float]:
        ids["embed"] = langfuse_context.get_current_observation_id()
        return [0.1, 0.2]

    @observe()
    def retrieve(query: str, k: int = 2) -> list[str]:
        ids["retrieve"] = langfuse_context.get_current_observation_id()
        embed(query)
        langfuse_context.update_current_observation(metadata={"index": "kb"}, level="DEBUG")
        return ["doc-1", "doc-2"][:k]

    @observe(as_type="generation")
    def llm(prompt: str) -> dict[str, str]:
        ids["llm"] = langfuse_context.get_current_observation_id()
        langfuse_context.update_current_observation(
            model="gpt-4o", model_parameters={"max_tokens": 16}, input=[{"role": "user", "content": prompt}],
            usage_details={"input": 7, "output": 2}, cost_details={"input": 0.0007, "output": 0.0004},
        )
        langfuse_context.score_current_observation(name="fluency", value=0.75, comment="fine")
        return {"role": "assistant", "content": "ok"}

    @observe(name="flaky-tool")
    def tool() -> None:
        raise RuntimeError("tool exploded")

    @observe(name="deco-pipeline")
    def pipeline(question: str, *, user: str) -> str:
        docs = retrieve(question, k=2)
        with contextlib.suppress(RuntimeError):
            tool()
        answer = llm(f"{question} {docs}")
        langfuse_context.update_current_trace(
            user_id=user, session_id="deco-session", tags=["deco", "v2"], metadata={"via": "observe"},
            version="deco-v1")
        langfuse_context.update_current_trace(metadata={"more": {"x": 1}})
        langfuse_context.score_current_trace(name="helpful", value=1, data_type="BOOLEAN")
        langfuse_context.score_current_trace(name="verdict", value="good", data_type="CATEGORICAL",
                                             comment="manual")
        return answer["content"]

    trace_id = f"deco-trace-{time.monotonic_ns()}"
    before = ms_floor(datetime.now(UTC))
    assert pipeline("What is 2+2?", user="user-deco", langfuse_observation_id=trace_id) == "ok"
    langfuse_context.flush()
    after = datetime.now(UTC)
    recorder.assert_all_accepted()
    assert all(ids.values()) and len(ids) == 3

    def complete(t: TraceWithFullDetails) -> None:
        assert len(t.observations) == 4 and len(t.scores) == 3
        assert t.name == "deco-pipeline" and t.output == "ok" and t.user_id == "user-deco"
        assert t.metadata and "more" in t.metadata
        assert all(o.end_time for o in t.observations) and all(o.output or o.level.value == "ERROR"
                                                                for o in t.observations)
        assert next(o for o in t.observations if o.type == "GENERATION").usage_details

    got = read_back(decorated, trace_id, complete)
    assert_unique_ids(got)
    assert decorated.api.trace.get(trace_id) == got

    # -- the outermost decorated function is the trace
    assert got.name == "deco-pipeline"
    assert got.input == {"args": ["What is 2+2?"], "kwargs": {"user": "user-deco"}}
    assert got.output == "ok"
    assert got.user_id == "user-deco" and got.session_id == "deco-session"
    assert got.tags == ["deco", "v2"]
    assert got.metadata == {"via": "observe", "more": {"x": 1}}
    assert got.version == "deco-v1" and got.release == RELEASE
    assert got.environment == "default"

    obs = by_name(got.observations)
    assert set(obs) == {"embed", "retrieve", "flaky-tool", "llm"}
    assert {name: o.id for name, o in obs.items() if name != "flaky-tool"} == {
        name: ids[name] for name in ("embed", "retrieve", "llm")}
    assert {name: o.type for name, o in obs.items()} == {
        "embed": "SPAN", "retrieve": "SPAN", "flaky-tool": "SPAN", "llm": "GENERATION"}
    # children of the root function hang off the trace directly; nested ones off their caller
    assert {name: o.parent_observation_id for name, o in obs.items()} == {
        "embed": ids["retrieve"], "retrieve": None, "flaky-tool": None, "llm": None}
    assert all(o.trace_id == trace_id for o in got.observations)

    assert obs["retrieve"].input == {"args": ["What is 2+2?"], "kwargs": {"k": 2}}
    assert obs["retrieve"].output == ["doc-1", "doc-2"]
    assert obs["retrieve"].metadata == {"index": "kb"}
    assert (obs["retrieve"].level.value, obs["retrieve"].status_message) == ("DEBUG", None)
    assert obs["embed"].input == {"args": ["What is 2+2?"], "kwargs": {}} and obs["embed"].output == [0.1, 0.2]
    assert (obs["flaky-tool"].level.value, obs["flaky-tool"].status_message) == ("ERROR", "tool exploded")
    assert obs["flaky-tool"].output is None

    llm_read = obs["llm"]
    assert llm_read.input == [{"role": "user", "content": "What is 2+2? ['doc-1', 'doc-2']"}]
    assert llm_read.output == {"role": "assistant", "content": "ok"}
    assert llm_read.model == "gpt-4o" and llm_read.model_parameters == {"max_tokens": 16}
    assert llm_read.usage_details == {"input": 7, "output": 2, "total": 9}
    assert llm_read.usage is not None
    assert (llm_read.usage.input, llm_read.usage.output, llm_read.usage.total) == (7, 2, 9)
    assert llm_read.cost_details == pytest.approx({"input": 0.0007, "output": 0.0004, "total": 0.0011})
    assert got.total_cost == pytest.approx(0.0011)

    assert_ordered(before, got.timestamp, obs["retrieve"].start_time, obs["embed"].start_time,
                   obs["embed"].end_time, obs["retrieve"].end_time, obs["flaky-tool"].start_time,
                   obs["flaky-tool"].end_time, llm_read.start_time, llm_read.end_time, after)

    scores = {s.name: s for s in got.scores}
    assert set(scores) == {"fluency", "helpful", "verdict"}
    fluency, helpful, verdict = scores["fluency"], scores["helpful"], scores["verdict"]
    assert (fluency.data_type, fluency.value, fluency.comment, fluency.observation_id) == (
        "NUMERIC", 0.75, "fine", ids["llm"])
    assert (helpful.data_type, helpful.value, helpful.string_value, helpful.observation_id) == (  # type: ignore[union-attr]
        "BOOLEAN", 1.0, "True", None)
    assert (verdict.data_type, verdict.string_value, verdict.comment) == (  # type: ignore[union-attr]
        "CATEGORICAL", "good", "manual")
    assert all(s.trace_id == trace_id and before <= s.timestamp <= after for s in got.scores)
