#!/usr/bin/env bash
# Make sure a PostgreSQL server is up, create a throwaway test database, print its URL.
# Prints nothing (and exits 0) when PostgreSQL is not installed, so tests skip loudly instead.
set -euo pipefail
PGHOST=${PGHOST:-127.0.0.1}
PGPORT=${PGPORT:-5432}
PGUSER=${PGUSER:-postgres}

if ! command -v psql >/dev/null 2>&1 && [ ! -d /etc/postgresql ]; then
  echo "PostgreSQL is not installed on this machine" >&2
  exit 0
fi
if ! pg_isready -q -h "$PGHOST" -p "$PGPORT" 2>/dev/null; then
  if [ -d /etc/postgresql ] && command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "starting PostgreSQL..." >&2
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start >&2 || true
    for _ in $(seq 1 30); do pg_isready -q -h "$PGHOST" -p "$PGPORT" && break; sleep 1; done
  fi
fi
if ! pg_isready -q -h "$PGHOST" -p "$PGPORT" 2>/dev/null; then
  echo "PostgreSQL is installed but not reachable on $PGHOST:$PGPORT" >&2
  exit 0
fi
DB="voucher_test_$$_$(date +%s)"
psql -q -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d postgres -c "CREATE DATABASE $DB" >&2
echo "postgresql+psycopg://$PGUSER@$PGHOST:$PGPORT/$DB"
