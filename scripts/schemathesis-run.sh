#!/usr/bin/env bash
# An independent Schemathesis run, all four phases (stateful included), against this checkout's
# app served on a fresh SQLite database filled by `voucher demo --seed 2026` (docs/openapi.md).
# Each operation is called with a key of a role that may call it (an admin, an auditor, a
# provider approved for the year, an enterprise with a voucher left and not related to that
# provider, and a city-level reviewer), through scripts/schemathesis_hooks.py.
# Prints Schemathesis's summary: failures, warnings, and the links its stateful phase reached.
# Usage: scripts/schemathesis-run.sh [schemathesis options, e.g. --max-examples 20]
#   SCHEMATHESIS_DB=path: copy that seeded database instead of running the demo (minutes), and
#   keep a freshly seeded one there for the next run.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(cd "${VENV:-.venv}/bin" && pwd)
PORT=${SCHEMATHESIS_PORT:-18765}
DIR=$(mktemp -d)
export PYTHONPATH=$PWD DATABASE_URL="sqlite:///$DIR/voucher.db"
if [ -n "${SCHEMATHESIS_DB:-}" ] && [ -f "$SCHEMATHESIS_DB" ]; then
  cp "$SCHEMATHESIS_DB" "$DIR/voucher.db"
else
  $BIN/voucher migrate >/dev/null
  $BIN/voucher demo --seed 2026 >/dev/null
  if [ -n "${SCHEMATHESIS_DB:-}" ]; then cp "$DIR/voucher.db" "$SCHEMATHESIS_DB"; fi
fi
# A pair of parties that can do business: the approved provider and the enterprise (unblocked, not
# related to it) with the largest voucher balance left in the open year.
read -r PROVIDER ENTERPRISE USCC PROVIDER_USCC YEAR < <("$BIN/python" - "$DIR/voucher.db" <<'SQL'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
print(*db.execute("""
    SELECT a.provider_id, e.id, e.uscc, p.uscc, y.year FROM approved_provider a
    JOIN provider p ON p.id = a.provider_id
    JOIN budget_year y ON y.year = a.year AND y.status = 'open'
    JOIN voucher v ON v.year = y.year AND v.status = 'active'
    JOIN enterprise e ON e.id = v.enterprise_id AND NOT e.credit_blocked
    WHERE NOT EXISTS (SELECT 1 FROM related_party r
                      WHERE r.enterprise_id = e.id AND r.provider_id = a.provider_id)
    ORDER BY v.balance_fen DESC, a.provider_id LIMIT 1""").fetchone())
SQL
)
key() { $BIN/voucher create-key --name "schemathesis-$1" --expires-in-days 1 --replace \
          --role "$@" | tail -n 1; }
export SCHEMATHESIS_ENTERPRISE_USCC=$USCC SCHEMATHESIS_PROVIDER_USCC=$PROVIDER_USCC SCHEMATHESIS_YEAR=$YEAR
export SCHEMATHESIS_HOOKS=scripts.schemathesis_hooks SCHEMATHESIS_BASE_URL="http://127.0.0.1:$PORT"
export SCHEMATHESIS_KEYS="admin=$(key admin) auditor=$(key auditor) \
provider=$(key provider --provider-id "$PROVIDER") \
enterprise=$(key enterprise --enterprise-id "$ENTERPRISE") \
reviewer=$(key reviewer --review-level city)"
# The public's objections come from many addresses: the hooks name one per objection through
# X-Forwarded-For, read because the loopback is the trusted proxy here.
TRUSTED_PROXIES=127.0.0.1/32 $BIN/voucher serve --host 127.0.0.1 --port "$PORT" >"$DIR/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$DIR"' EXIT
cd "$DIR"  # Schemathesis keeps its example database in ./.schemathesis, reads ./schemathesis.toml
# The stateful phase: longer chains of valid requests (the other phases send the invalid ones).
cat >schemathesis.toml <<'TOML'
[phases.stateful]
max-steps = 20

[phases.stateful.generation]
max-examples = 100
mode = "positive"
TOML
"$BIN/schemathesis" run "http://127.0.0.1:$PORT/openapi.json" --wait-for-schema 60 \
  --phases examples,coverage,fuzzing,stateful \
  --seed 2026 --workers 1 --no-color "$@" || true
