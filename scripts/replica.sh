#!/usr/bin/env bash
# A streaming replica of the local test cluster, for the replica tests (tests/replica) and the
# replica bench (bench/replica_lag.py); docs/scaling.md, "Read replicas".
#
#   scripts/replica.sh start    # pg_basebackup -R into .replica/, start it; print its URL
#   scripts/replica.sh stop     # stop it and remove .replica/
#   scripts/replica.sh status   # running or not, its port and lag
#
# The primary is PGHOST:PGPORT (127.0.0.1:5432) as PGUSER (postgres). The replica listens on
# 127.0.0.1:REPLICA_PORT; without REPLICA_PORT, on the first free port from 5433 (so two
# checkouts on one machine each get their own). `start` adds `host replication all
# 127.0.0.1/32 trust` to the primary's pg_hba.conf once and reloads it (the only change it makes
# to the primary), and prints the replica's URL (database `postgres`) on stdout, nothing else.
# PostgreSQL refuses to run as root: as root the replica's files and server belong to the OS
# user that owns the primary's data directory (runuser), otherwise to the current user.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${REPLICA_DIR:-$ROOT/.replica}
DATA=$DIR/data
PGHOST=${PGHOST:-127.0.0.1}
PGPORT=${PGPORT:-5432}
PGUSER=${PGUSER:-postgres}
export PGHOST PGPORT PGUSER

say() { echo "replica: $*" >&2; }
primary() { psql -X -q -At -d postgres "$@"; }

bindir() {
  local major
  if [ -f "$DATA/PG_VERSION" ]; then
    major=$(cat "$DATA/PG_VERSION")
  else
    major=$(( $(primary -c 'SHOW server_version_num') / 10000 ))
  fi
  if [ -x "/usr/lib/postgresql/$major/bin/pg_ctl" ]; then
    echo "/usr/lib/postgresql/$major/bin"
  else
    dirname "$(command -v pg_ctl)"
  fi
}

# Run as the owner of the primary's files when we are root; as ourselves otherwise.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u "$OWNER" -- "$@"
  else
    "$@"
  fi
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

running() { [ -f "$DATA/postmaster.pid" ] && as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

replica_port() { cat "$DIR/port" 2>/dev/null; }

url() { echo "postgresql+psycopg://$PGUSER@127.0.0.1:$(replica_port)/postgres"; }

allow_replication() {
  local hba
  hba=$(primary -c 'SHOW hba_file')
  if ! grep -Eq '^[[:space:]]*host[[:space:]]+replication[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
    say "adding 'host replication all 127.0.0.1/32 trust' to $hba"
    printf '\n# streaming replicas of the test cluster (scripts/replica.sh)\nhost replication all 127.0.0.1/32 trust\n' >>"$hba"
    primary -c 'SELECT pg_reload_conf()' >/dev/null
  fi
}

choose_port() {
  if [ -n "${REPLICA_PORT:-}" ]; then
    if port_in_use "$REPLICA_PORT"; then
      say "port $REPLICA_PORT is taken"; exit 1
    fi
    echo "$REPLICA_PORT"; return
  fi
  local port=5433
  while port_in_use "$port"; do port=$((port + 1)); done
  echo "$port"
}

# What a hot standby must have at least as large as its primary, or it refuses to start.
write_config() {
  local port=$1 settings
  settings=$(primary -F ' = ' -c "SELECT name, setting FROM pg_settings WHERE name IN
    ('max_connections', 'max_worker_processes', 'max_wal_senders',
     'max_prepared_transactions', 'max_locks_per_transaction')")
  cat >"$DATA/postgresql.conf" <<EOF
# A test replica (scripts/replica.sh); the primary's settings live in /etc/postgresql.
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
cluster_name = 'voucher-replica'
hot_standby = on
# a query that holds up replay is cancelled after this long (replay then catches up)
max_standby_streaming_delay = 5s
wal_receiver_status_interval = 1s
shared_buffers = 32MB
fsync = off
$settings
EOF
  cat >"$DATA/pg_hba.conf" <<EOF
host all all 127.0.0.1/32 trust
EOF
}

start() {
  if running; then url; return; fi
  stop_quietly
  allow_replication
  local port
  port=$(choose_port)
  mkdir -p "$DIR"
  if [ "$(id -u)" = 0 ]; then chown "$OWNER" "$DIR"; fi
  chmod 700 "$DIR"
  say "pg_basebackup of $PGHOST:$PGPORT into $DATA"
  as_owner "$BIN/pg_basebackup" -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -D "$DATA" -R \
    -X stream -c fast --no-sync
  echo "$port" >"$DIR/port"
  write_config "$port"
  if [ "$(id -u)" = 0 ]; then chown -R "$OWNER" "$DIR"; fi
  as_owner "$BIN/pg_ctl" -D "$DATA" -l "$DIR/replica.log" -w -t 60 start >&2
  for _ in $(seq 1 60); do
    pg_isready -q -h 127.0.0.1 -p "$port" && break
    sleep 0.5
  done
  pg_isready -q -h 127.0.0.1 -p "$port" || { say "did not come up (see $DIR/replica.log)"; exit 1; }
  say "streaming replica on 127.0.0.1:$port"
  url
}

stop_quietly() {
  if [ -f "$DATA/postmaster.pid" ]; then
    # immediate: the folder is removed next, nothing of it needs to be written out
    as_owner "$BIN/pg_ctl" -D "$DATA" -m immediate -w stop >&2 || true
  fi
  rm -rf "$DIR"
}

status() {
  if ! running; then echo "replica: not running"; return 3; fi
  local port
  port=$(replica_port)
  echo "replica: running on 127.0.0.1:$port ($(url))"
  psql -X -At -h 127.0.0.1 -p "$port" -d postgres -c "SELECT 'lag_s: ' || CASE
      WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
      ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END
      || ', replay paused: ' || pg_is_wal_replay_paused()"
}

command -v psql >/dev/null || { say "psql is not installed"; exit 1; }
BIN=$(bindir)
if [ -d "$DIR" ]; then
  OWNER=$(stat -c %U "$DIR")
else
  OWNER=$(stat -c %U "$(primary -c 'SHOW data_directory')" 2>/dev/null || echo postgres)
fi
case "${1:-}" in
  start) start ;;
  stop) stop_quietly ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
