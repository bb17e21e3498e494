"""Run under the official Python SDK 5.x (tests/support/sdk5.py): tracing through OpenTelemetry.

    write HOST PK SK RUN   trace with nested spans, a generation, a tool, an event, an @observe trace,
                           propagated user/session/tags/metadata, and scores; prints the ids
    read HOST PK SK TRACE  the v5 API client's reads of that trace (observations v2, scores v3)

Prints one JSON line; any SDK error fails the script."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

from langfuse import Langfuse, observe, propagate_attributes


def dump(model: Any) -> Any:
    return json.loads(model.json(by_alias=True)) if hasattr(model, "json") else model


def write(lf: Langfuse, run: str) -> dict[str, Any]:
    out: dict[str, Any] = {"auth_check": lf.auth_check()}
    trace_id = lf.create_trace_id(seed=f"otel-{run}")
    ids: dict[str, str] = {}
    with lf.start_as_current_observation(name="request", as_type="span", input={"question": "2+2?"},
                                         trace_context={"trace_id": trace_id}) as root, propagate_attributes(
            user_id=f"user-{run}", session_id=f"session-{run}", tags=["sdk5", "otel"],
            metadata={"tenant": "acme"}, trace_name="sdk5-trace", version="v5"):
        ids["request"] = root.id
        with lf.start_as_current_observation(name="retrieve", as_type="retriever", input={"q": "2+2"}) as retriever:
            ids["retrieve"] = retriever.id
            with lf.start_as_current_observation(
                    name="llm", as_type="generation", model="gpt-4o", model_parameters={"temperature": 0.1},
                    input=[{"role": "user", "content": "2+2?"}], usage_details={"input": 10, "output": 5},
                    cost_details={"input": 0.001, "output": 0.002},
                    completion_start_time=datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)) as generation:
                ids["llm"] = generation.id
                generation.update(output={"role": "assistant", "content": "4"})
            retriever.update(output={"docs": ["a", "b"]}, metadata={"index": "docs"})
        with lf.start_as_current_observation(name="calc", as_type="tool", input={"expr": "2+2"}) as tool:
            ids["calc"] = tool.id
            tool.update(output=4)
        ids["cache-hit"] = lf.create_event(name="cache-hit", input={"key": "2+2"}, level="DEBUG").id
        root.update(output={"answer": "4"}, metadata={"step": 1})
    out["trace_id"], out["ids"] = trace_id, ids

    @observe(name="deco-llm", as_type="generation")
    def deco_llm(x: int) -> int:
        lf.update_current_generation(model="gpt-4o-mini", usage_details={"input": 3, "output": 1})
        return x * 2

    @observe(name="deco-root")
    def deco_root(x: int) -> dict[str, Any]:
        with propagate_attributes(user_id=f"deco-user-{run}", tags=["deco"]):
            return {"trace_id": lf.get_current_trace_id(), "value": deco_llm(x)}

    out["decorated"] = deco_root(21)
    lf.create_score(name="quality", value=0.9, trace_id=trace_id, data_type="NUMERIC", score_id=f"q-{run}")
    lf.create_score(name="correct", value=1, trace_id=trace_id, observation_id=ids["llm"], data_type="BOOLEAN",
                    score_id=f"c-{run}")
    lf.create_score(name="session-rating", value=4, session_id=f"session-{run}", score_id=f"s-{run}")
    lf.flush()
    return out


def read(lf: Langfuse, trace_id: str) -> dict[str, Any]:
    observations = lf.api.observations.get_many(trace_id=trace_id, fields="core,basic,io,model,usage,metadata",
                                                limit=50)
    return {"observations": [dump(o) for o in observations.data],
            "scores": [dump(s) for s in lf.api.scores.get_many(trace_id=trace_id).data]}


def main() -> None:
    mode, host, public_key, secret_key, arg = sys.argv[1:6]
    lf = Langfuse(public_key=public_key, secret_key=secret_key, host=host, environment="sdk5-env",
                  release="rel-1")
    out = write(lf, arg) if mode == "write" else read(lf, arg)
    lf.shutdown()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
