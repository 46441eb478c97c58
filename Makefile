# The two commands: `make run` and `make test`. Everything they need goes into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Every dependency at an exact version with its hashes (pip-tools); refreshed by `make lock`.
LOCK := requirements.txt
# One worker per core (a third on these two cores measured no faster: docs/testing.md);
# `make test PYTEST_WORKERS=0` runs in one process.
PYTEST_WORKERS ?= auto
DATABASE_URL ?= sqlite:///./voucher.db
HOST ?= 127.0.0.1
PORT ?= 8000
export DATABASE_URL

.PHONY: run test test-long install lock assets browser lint openapi bench clean

$(STAMP): $(LOCK) pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# Re-resolve the lock from pyproject.toml (keeping the pins that still fit; add --upgrade
# through LOCK_ARGS to move everything to the newest allowed versions).
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet 'pip-tools>=7.4'
	$(BIN)/pip-compile --quiet --extra test --generate-hashes --allow-unsafe --strip-extras \
	  --no-emit-index-url --no-emit-find-links $(LOCK_ARGS) -o $(LOCK) pyproject.toml

# The pinned, integrity-checked ECharts and Swagger UI the service serves itself (never a CDN at run time).
assets:
	scripts/fetch-assets.sh

# Debian's chromium for the end-to-end tests (tests/e2e); never `playwright install`.
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium fonts-noto-cjk) \
	  || { [ "$$CI" != "true" ] && echo "!!! chromium could not be installed: browser tests will be SKIPPED (never in CI) !!!"; }

run: $(STAMP) assets
	$(BIN)/voucher migrate
	@if [ -n "$(DEMO)" ]; then $(BIN)/voucher demo; fi
	@echo "Admin API key (shown once; keep it; it expires in 7 days and the next make run revokes it):"
	@$(BIN)/voucher create-key --role admin --name "make run" --expires-in-days 7 --replace | tail -n 1
	@echo "Serving on http://$(HOST):$(PORT)  (API under /v1, docs at /docs)"
	$(BIN)/voucher serve --host $(HOST) --port $(PORT)

# pytest-xdist over the cores (each worker its own PostgreSQL database, see tests/pg_databases.py),
# branch coverage of service/ and the ten slowest tests at the end. With PostgreSQL, PgBouncer
# (transaction mode) in front of it (scripts/pgbouncer.sh: the concurrency, idempotency,
# crash-retry and workers suites run through it too) and a streaming replica of it
# (scripts/replica.sh, in .replica/, for tests/replica), both stopped and removed after.
test: $(STAMP) assets browser
	@url=$$(scripts/test-postgres.sh); bouncer=""; replica=""; \
	  if [ -z "$$url" ]; then echo "!!! PostgreSQL unavailable: its tests will be SKIPPED (never in CI) !!!"; \
	  else bouncer=$$(scripts/pgbouncer.sh start) || bouncer=""; \
	    replica=$$(scripts/replica.sh start) || replica=""; fi; \
	  if [ -n "$$url" ] && [ -z "$$bouncer" ]; then echo "!!! PgBouncer unavailable: its tests will be SKIPPED (never in CI) !!!"; fi; \
	  if [ -n "$$url" ] && [ -z "$$replica" ]; then echo "!!! the streaming replica did not start: its tests will be SKIPPED (never in CI) !!!"; fi; \
	  PG_TEST_URL="$$url" PG_BOUNCER_URL="$$bouncer" PG_REPLICA_URL="$$replica" \
	    $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup \
	    --cov=service --cov-branch --cov-report=term:skip-covered --durations=10 $(PYTEST_ARGS); \
	  status=$$?; if [ -n "$$bouncer" ]; then scripts/pgbouncer.sh stop; fi; \
	  if [ -n "$$replica" ]; then scripts/replica.sh stop; fi; \
	  scripts/drop-test-database.sh "$$url"; exit $$status

# The scheduled long run (docs/testing.md): the same suite with Schemathesis drawing many more
# examples per operation and sending every boundary case with every role's key.
test-long:
	SCHEMATHESIS_EXAMPLES=$${SCHEMATHESIS_EXAMPLES:-300} SCHEMATHESIS_ROLES=$${SCHEMATHESIS_ROLES:-all} \
	  $(MAKE) test

lint: $(STAMP)
	$(BIN)/ruff check service tests bench

openapi: $(STAMP)
	$(BIN)/python -m service.openapi_export

bench: $(STAMP)
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) voucher.db voucher.db-wal voucher.db-shm .pytest_cache .pgbouncer
