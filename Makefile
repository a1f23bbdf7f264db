# datadam: the two commands that matter are `make run` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
UV := $(PYTHON) -m uv
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
# Receipts name the privacy policy at the address the product serves, unless DATADAM_BASE_URL says otherwise.
RUN_ENV = DATADAM_BASE_URL=$${DATADAM_BASE_URL:-http://$(HOST):$(PORT)}

.PHONY: run test test-fast lint bench translations install tools help
.DEFAULT_GOAL := help

help:
	@echo "make run    - install, migrate, seed the demo and serve http://$(HOST):$(PORT) (SQLite + files under ./var)"
	@echo "make test   - install, lint (ruff, mypy) and run the whole test suite (SQLite; PostgreSQL too when DATADAM_TEST_DATABASE_URL is set)"
	@echo "make lint   - ruff and mypy"
	@echo "make bench  - benchmarks (needs ../shared/data)"

# uv itself comes from PyPI the first time; everything else is pinned by uv.lock.
tools:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet --disable-pip-version-check "uv>=0.5"

install: tools
	@$(UV) sync --frozen --quiet
	@$(BIN)/pybabel compile -d webapp/translations >/dev/null

run: install
	$(BIN)/datadam db upgrade
	$(RUN_ENV) $(BIN)/datadam demo
	$(RUN_ENV) $(BIN)/datadam run --host $(HOST) --port $(PORT)

test: install
	@bash scripts/test-deps.sh
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -n 2 --durations=30 $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: install
	$(BIN)/datadam bench gates --data ../shared/data
	$(BIN)/datadam bench release --data ../shared/data
	$(BIN)/datadam bench feedback --data ../shared/data

translations: install
	$(BIN)/python scripts/i18n.py
