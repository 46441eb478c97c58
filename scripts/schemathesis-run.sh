#!/usr/bin/env bash
# An independent Schemathesis run, all four phases (stateful included), against this checkout's
# app served on a fresh SQLite database filled by `voucher demo --seed 2026` (docs/openapi.md).
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
KEY=$($BIN/voucher create-key --role admin --name schemathesis --expires-in-days 1 | tail -n 1)
$BIN/voucher serve --host 127.0.0.1 --port "$PORT" >"$DIR/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$DIR"' EXIT
cd "$DIR"  # Schemathesis keeps its example database in ./.schemathesis
"$BIN/schemathesis" run "http://127.0.0.1:$PORT/openapi.json" --wait-for-schema 60 \
  -H "Authorization: Bearer $KEY" --phases examples,coverage,fuzzing,stateful \
  --seed 2026 --workers 1 --no-color "$@" || true
