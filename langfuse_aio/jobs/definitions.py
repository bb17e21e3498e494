"""Job names and queue names shared by producers (web) and consumers (worker)."""

from __future__ import annotations

QUEUE_NAME = "langfuse-aio:queue"

# A trivial job: proves a worker consumes the queue (used by health checks and tests).
PING = "ping"

# process_ingestion(project_id: str, entities: list[[type, id]], file_key: str | None)
PROCESS_INGESTION = "process_ingestion"
INGESTION_MAX_TRIES = 30  # back-off capped at 60 s: about half an hour of store outage before giving up
