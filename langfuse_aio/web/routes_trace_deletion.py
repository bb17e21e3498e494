"""DELETE /api/public/traces/{traceId} and DELETE /api/public/traces (body `{traceIds: [...]}`).

As today's Langfuse: Basic auth, the answer comes at once (200 `{"message": "Trace(s) deleted
successfully"}`) and one `delete_traces` job removes the traces, their observations and scores
(`services.trace_deletion`), usually within a second. The job works only inside the key's
project, so an id that does not exist there (unknown, already deleted, or another project's) is a
harmless no-op and gets the same 200: the answer never tells whether an id exists. If the job
cannot be queued the answer is a 500 and nothing was deleted.
"""

from __future__ import annotations

import structlog
from quart import Blueprint, Response, jsonify

from langfuse_aio.domain.deletion_requests import parse_trace_ids
from langfuse_aio.domain.errors import LangfuseError
from langfuse_aio.jobs import definitions
from langfuse_aio.web.auth import authenticate, resources
from langfuse_aio.web.body import read_json

bp = Blueprint("trace_deletion", __name__)
log = structlog.get_logger(__name__)


class DeletionQueueUnavailableError(LangfuseError):
    status = 500
    error = "InternalServerError"


async def _enqueue(project_id: str, trace_ids: list[str]) -> None:
    try:
        await resources().redis.enqueue_job(definitions.DELETE_TRACES, project_id, trace_ids,
                                            _queue_name=definitions.QUEUE_NAME)
    except Exception as exc:  # any Redis failure: the client should retry
        log.error("trace_deletion_enqueue_failed", project_id=project_id, error=f"{type(exc).__name__}: {exc}")
        raise DeletionQueueUnavailableError("TraceDeleteQueue not available, retry the deletion") from exc
    log.info("trace_deletion_queued", project_id=project_id, traces=len(trace_ids))


@bp.delete("/api/public/traces/<path:trace_id>")
async def delete_trace(trace_id: str) -> Response:
    scope = await authenticate()
    await _enqueue(scope.project_id, [trace_id])
    return jsonify({"message": "Trace deleted successfully"})


@bp.delete("/api/public/traces")
async def delete_traces() -> Response:
    scope = await authenticate()
    trace_ids = parse_trace_ids(await read_json())
    await _enqueue(scope.project_id, trace_ids)
    return jsonify({"message": "Traces deleted successfully"})
