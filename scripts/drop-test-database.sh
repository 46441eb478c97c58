#!/usr/bin/env bash
# Drop the throwaway database named by the URL in $1 (no-op for an empty URL).
set -uo pipefail
url=${1:-}
[ -n "$url" ] || exit 0
db=${url##*/}
case "$db" in voucher_test_*) ;; *) exit 0 ;; esac
psql -q -h "${PGHOST:-127.0.0.1}" -p "${PGPORT:-5432}" -U "${PGUSER:-postgres}" -d postgres \
  -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
