"""Run under the official Python SDK 5.x (tests/support/sdk5.py): the API-client calls a v5 user makes
against our server, printed as one JSON line. Argv: host public_key secret_key trace_id.

Each result is the SDK's own typed model dumped back to JSON, so a response the SDK's pydantic models
reject fails here with the SDK's error."""

from __future__ import annotations

import json
import sys
from typing import Any

from langfuse import Langfuse
from langfuse.api import CreateScoreConfigRequest  # noqa: F401  (import proves the model exists)


def dump(model: Any) -> Any:
    return json.loads(model.json(by_alias=True)) if hasattr(model, "json") else model


def main() -> None:
    host, public_key, secret_key, trace_id = sys.argv[1:5]
    lf = Langfuse(public_key=public_key, secret_key=secret_key, host=host, tracing_enabled=True)
    out: dict[str, Any] = {"auth_check": lf.auth_check()}
    out["health"] = dump(lf.api.health.health())
    observations = lf.api.observations.get_many(trace_id=trace_id, fields="core,basic,io,model,usage", limit=50)
    out["observations"] = [dump(o) for o in observations.data]
    first = lf.api.observations.get_many(trace_id=trace_id, fields="core", limit=1)
    out["first_page"] = {"ids": [o.id for o in first.data], "cursor": first.meta.cursor}
    if first.meta.cursor:
        second = lf.api.observations.get_many(trace_id=trace_id, fields="core", limit=1, cursor=first.meta.cursor)
        out["second_page_ids"] = [o.id for o in second.data]
    out["scores"] = [dump(s) for s in lf.api.scores.get_many(trace_id=trace_id).data]
    config = lf.api.score_configs.create(name="sdk5-helpfulness", data_type="NUMERIC", min_value=0, max_value=1)
    out["config"] = dump(config)
    out["config_by_id"] = dump(lf.api.score_configs.get_by_id(config.id))
    out["config_ids"] = [c.id for c in lf.api.score_configs.get(page=1, limit=100).data]
    lf.create_score(name="sdk5-score", value=0.75, trace_id=trace_id, data_type="NUMERIC", score_id="sdk5-score-1")
    lf.create_score(name="sdk5-flag", value=1, trace_id=trace_id, data_type="BOOLEAN", score_id="sdk5-score-2")
    lf.flush()
    lf.shutdown()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
