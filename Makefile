# make run   — install, migrate (SQLite unless DATABASE_URL says otherwise), load the demo city, serve on :8000
# make test  — install, run the test suite (PostgreSQL and Redis when DATABASE_URL / REDIS_URL point at them)
# make lint  — ruff check, ruff format --check, makemigrations --check

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# Reinstall only when pyproject.toml changes (or the venv is new).
STAMP := $(VENV)/.installed

.PHONY: install run test lint

install: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	@echo "门户地址：http://127.0.0.1:8000/  （按 Ctrl+C 停止）"
	$(BIN)/python manage.py runserver 127.0.0.1:8000

test: install
	PORTAL_ENV=test $(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PORTAL_ENV=test $(BIN)/python manage.py makemigrations --check --dry-run
