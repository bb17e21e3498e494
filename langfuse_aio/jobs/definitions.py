"""Job names and queue names shared by producers (web) and consumers (worker)."""

from __future__ import annotations

QUEUE_NAME = "langfuse-aio:queue"

# A trivial job: proves a worker consumes the queue (used by health checks and tests).
PING = "ping"
