#!/usr/bin/env bash
# Drop the throwaway database named by the URL in $1 and the databases the test run made from it
# (its migrated template `<db>_tpl`, each pytest worker's `<db>_gw0`, `<db>_gw1`, … or `<db>_main`,
# and any `<db>_restore`): a no-op for an empty URL.
set -uo pipefail
url=${1:-}
[ -n "$url" ] || exit 0
db=${url##*/}
case "$db" in voucher_test_*) ;; *) exit 0 ;; esac
psql_admin() {
  psql -q -At -h "${PGHOST:-127.0.0.1}" -p "${PGPORT:-5432}" -U "${PGUSER:-postgres}" -d postgres "$@"
}
names=$(psql_admin -c "SELECT datname FROM pg_database WHERE datname = '$db' OR datname LIKE '${db}\_%'" 2>/dev/null) || exit 0
for name in $names; do
  psql_admin -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null 2>&1 || true
done
