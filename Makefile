# Colloquy: the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# Re-install whenever pyproject.toml changes.
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-faults test-stress lint services bench bench-full install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e ".[test,bench]"
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

## make run: install, migrate, seed a demo organisation, serve on 127.0.0.1:8000
## (uvicorn on uvloop; SERVER=daphne serves the same app with daphne)
run: install
	$(BIN)/python manage.py migrate --noinput -v0
	$(BIN)/python manage.py seed_demo
	@if [ -n "$$DATABASE_URL" ]; then \
	  echo "services profile: starting a persister beside the server"; \
	  $(BIN)/python manage.py persister & \
	fi; \
	exec $(BIN)/python -m realtime.serve --host $(HOST) --port $(PORT) $(if $(SERVER),--server $(SERVER))

## make test: lint, start Postgres and Redis if needed, run the whole suite (both
## profiles, uvicorn and daphne, browser, fault and soak tests) in parallel groups,
## then print the slowest tests and the total time
# Workers: the suite mostly waits on its servers, so more workers than cores pay.
TEST_WORKERS ?= 4
PYTEST_PARALLEL = $(BIN)/pytest -n $(TEST_WORKERS) --dist loadscope --durations=15
test: install services
	@start=$$(date +%s); \
	bash scripts/browser.sh && $(BIN)/ruff check . && $(PYTEST_PARALLEL) $(TEST_ARGS); \
	rc=$$?; echo "make test: $$(( $$(date +%s) - start )) s in total, exit $$rc"; exit $$rc

## make test-faults: only the long fault-injection and soak tests (tests/reliability)
test-faults: install services
	$(PYTEST_PARALLEL) tests/reliability

## make test-stress: the whole suite while a CPU hog holds one core (it stops by itself)
test-stress: install services
	@bash scripts/cpu_hog.sh 1800 & hog=$$!; \
	$(MAKE) --no-print-directory test; rc=$$?; kill $$hog 2>/dev/null; wait $$hog 2>/dev/null; \
	exit $$rc

lint: install
	$(BIN)/ruff check .

services:
	@bash scripts/services.sh

bench: install services
	$(BIN)/python -m bench $(BENCH_ARGS)

bench-full: install services
	$(BIN)/python -m bench --full $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var
