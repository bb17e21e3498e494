"""Job names and queue names shared by producers (web) and consumers (worker)."""

from __future__ import annotations

QUEUE_NAME = "langfuse-aio:queue"

# A trivial job: proves a worker consumes the queue (used by health checks and tests).
PING = "ping"

# process_ingestion(project_id: str, entities: list[[type, id]], file_key: str | None)
PROCESS_INGESTION = "process_ingestion"
INGESTION_MAX_TRIES = 30  # back-off capped at 60 s: about half an hour of store outage before giving up

# delete_traces(project_id: str, trace_ids: list[str]): traces, their observations and scores, for good
DELETE_TRACES = "delete_traces"
# delete_project(project_id: str): every ClickHouse row of a soft-deleted project (and blobs if configured)
DELETE_PROJECT = "delete_project"
DELETION_MAX_TRIES = 10  # back-off 1 s doubling, capped at 120 s: about 10 minutes of outage
