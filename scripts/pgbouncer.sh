#!/usr/bin/env bash
# PgBouncer in transaction mode in front of the local test cluster (docs/testing.md, "PgBouncer").
#
#   scripts/pgbouncer.sh start   # install Debian's pgbouncer if missing, start it, print the URL
#   scripts/pgbouncer.sh stop    # stop the one this checkout started, remove its folder
#
# `start` prints `postgresql+psycopg://USER@127.0.0.1:PORT` (no database: the `*` entry forwards
# any database name to the same name on PGHOST:PGPORT, so `<url>/<db>` reaches `<db>`), or
# nothing when PostgreSQL or pgbouncer is not available (the PgBouncer tests then skip, loudly;
# with CI=true the test run refuses instead). Everything lives in .pgbouncer/ of the checkout.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR="$ROOT/.pgbouncer"
PGHOST=${PGHOST:-127.0.0.1}
PGPORT=${PGPORT:-5432}
PGUSER=${PGUSER:-postgres}
PORT=${PGBOUNCER_PORT:-6432}
# pgbouncer refuses to run as root: it runs as this user then (Debian's PostgreSQL owner).
RUN_AS=${PGBOUNCER_USER:-postgres}

say() { echo "pgbouncer.sh: $*" >&2; }

pgbouncer_bin() {
  command -v pgbouncer 2>/dev/null || { [ -x /usr/sbin/pgbouncer ] && echo /usr/sbin/pgbouncer; }
}

install() {
  [ -n "$(pgbouncer_bin)" ] && return 0
  say "installing Debian's pgbouncer"
  # policy-rc.d (or its absence of an init system) keeps the package's own service from starting;
  # the packaged one would listen on 6432 too, so it is stopped below if it did start.
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer; } >&2 \
    || return 1
  if command -v service >/dev/null && service pgbouncer status >/dev/null 2>&1; then
    service pgbouncer stop >&2 || true
  fi
}

port_busy() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

running_pid() {
  [ -f "$DIR/pgbouncer.pid" ] || return 1
  local pid
  pid=$(cat "$DIR/pgbouncer.pid")
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

start() {
  if ! pg_isready -q -h "$PGHOST" -p "$PGPORT" 2>/dev/null; then
    say "PostgreSQL is not reachable on $PGHOST:$PGPORT: not starting PgBouncer"
    return 0
  fi
  if ! install || [ -z "$(pgbouncer_bin)" ]; then
    say "pgbouncer could not be installed"
    return 0
  fi
  if [ -n "$(running_pid)" ]; then  # this checkout's, from an earlier start
    echo "postgresql+psycopg://$PGUSER@127.0.0.1:$(cat "$DIR/port")"
    return 0
  fi
  if port_busy "$PORT"; then
    if [ -n "${PGBOUNCER_PORT:-}" ]; then
      say "port $PORT is taken"; return 1
    fi
    # Another checkout's PgBouncer (or anything else): take a free port instead of failing.
    PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  fi
  rm -rf "$DIR" && mkdir -p "$DIR"
  echo "$PORT" > "$DIR/port"
  # trust: the user name must still be in auth_file (no password is checked).
  echo "\"$PGUSER\" \"\"" > "$DIR/userlist.txt"
  cat > "$DIR/pgbouncer.ini" <<EOF
; Written by scripts/pgbouncer.sh: the test cluster behind PgBouncer in transaction mode.
[databases]
* = host=$PGHOST port=$PGPORT

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PORT
unix_socket_dir =
auth_type = trust
auth_file = $DIR/userlist.txt
pool_mode = transaction
; the racing tests open up to ~100 client connections at once (several apps, 30 threads)
max_client_conn = 500
; server connections per database (each test worker has its own): a few more than a racing
; test needs at once, and far below max_connections (100) even with two workers and replicas
default_pool_size = 16
reserve_pool_size = 4
; give idle server connections back quickly: the cluster is shared with direct connections
server_idle_timeout = 10
server_lifetime = 300
; the tests' DROP DATABASE … WITH (FORCE) kills server connections; never wait long for them
server_connect_timeout = 5
query_wait_timeout = 60
logfile = $DIR/pgbouncer.log
pidfile = $DIR/pgbouncer.pid
admin_users = $PGUSER
EOF
  local as=()
  if [ "$(id -u)" = 0 ]; then
    chown -R "$RUN_AS" "$DIR"
    as=(-u "$RUN_AS")
  fi
  "$(pgbouncer_bin)" -d "${as[@]}" "$DIR/pgbouncer.ini" >&2
  for _ in $(seq 1 50); do
    pg_isready -q -h 127.0.0.1 -p "$PORT" -U "$PGUSER" -d pgbouncer 2>/dev/null && break
    sleep 0.1
  done
  if ! pg_isready -q -h 127.0.0.1 -p "$PORT" -U "$PGUSER" -d pgbouncer 2>/dev/null; then
    say "PgBouncer did not start (see $DIR/pgbouncer.log)"
    return 1
  fi
  say "PgBouncer $("$(pgbouncer_bin)" --version | head -1 | awk '{print $2}') in transaction mode on 127.0.0.1:$PORT"
  echo "postgresql+psycopg://$PGUSER@127.0.0.1:$PORT"
}

stop() {
  local pid
  if pid=$(running_pid); then
    kill "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -rf "$DIR"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
