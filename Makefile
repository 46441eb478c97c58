# The two commands: `make run` and `make test`. Everything they need goes into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATABASE_URL ?= sqlite:///./voucher.db
HOST ?= 127.0.0.1
PORT ?= 8000
export DATABASE_URL

.PHONY: run test install assets browser lint openapi bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

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

test: $(STAMP) assets browser
	@url=$$(scripts/test-postgres.sh); \
	  if [ -z "$$url" ]; then echo "!!! PostgreSQL unavailable: its tests will be SKIPPED (never in CI) !!!"; fi; \
	  PG_TEST_URL="$$url" $(BIN)/python -m pytest $(PYTEST_ARGS); status=$$?; \
	  scripts/drop-test-database.sh "$$url"; exit $$status

lint: $(STAMP)
	$(BIN)/ruff check service tests bench

openapi: $(STAMP)
	$(BIN)/python -m service.openapi_export

bench: $(STAMP)
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) voucher.db voucher.db-wal voucher.db-shm .pytest_cache
