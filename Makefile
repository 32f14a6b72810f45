# Colloquy: the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# Re-install whenever pyproject.toml changes.
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint services bench bench-full install clean

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

## make test: lint, start Postgres and Redis if needed, run the suite on both profiles
test: install services
	bash scripts/browser.sh
	$(BIN)/ruff check .
	$(BIN)/pytest
	@echo "daphne stays supported: chat, flow control and resume again under daphne"
	COLLOQUY_TEST_SERVER=daphne $(BIN)/pytest -q tests/test_chat.py tests/test_slow_consumer.py tests/test_resume.py

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
