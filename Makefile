# The same commands for people and CI. `make demo` and `make test` install everything first.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
export DATABASE_URL_TEST ?= postgres://postgres@127.0.0.1:5432/inventory_sync

.PHONY: demo test lint services browser bench install

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	INVENTORY_SYNC_DEMO=1 $(PY) manage.py demo

browser:
	scripts/browser.sh

services:
	scripts/services.sh

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(PY) scripts/check_function_length.py
	$(PY) scripts/check_imports.py
	DATABASE_URL=$(DATABASE_URL_TEST) SECRET_KEY=lint $(PY) manage.py makemigrations --check --dry-run

test: $(VENV)/.installed services browser lint
	DATABASE_URL=$(DATABASE_URL_TEST) $(VENV)/bin/pytest -n 2 --create-db

bench: $(VENV)/.installed services
	createdb -h 127.0.0.1 -U postgres inventory_sync 2>/dev/null || true
	DATABASE_URL=$(DATABASE_URL_TEST) SECRET_KEY=bench $(PY) manage.py migrate --verbosity 0
	DATABASE_URL=$(DATABASE_URL_TEST) SECRET_KEY=bench $(PY) bench/ledger_ingest.py
	DATABASE_URL=$(DATABASE_URL_TEST) SECRET_KEY=bench CELERY_BROKER_URL=memory:// $(PY) bench/allocation.py
	$(PY) bench/shopify_sync.py
	$(PY) bench/amazon_sync.py
	$(PY) bench/reconcile.py
	$(PY) bench/console.py
