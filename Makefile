# One command to run MEGAHUB, one to test it. Both install the locked dependencies first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# `make test TEST_PROCESSES=1` runs the suite in one process (default 2: pytest-xdist).
TEST_PROCESSES ?= 2
# `make run PORT=8080` serves the web process on another port (HOST=127.0.0.1 to listen locally only).
PORT ?= 8000
HOST ?= 0.0.0.0

.PHONY: install run test bench lint migrate demo

$(STAMP): requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "MEGAHUB needs Python 3.11 (found %d.%d); run make PYTHON=/path/to/python3.11" % sys.version_info[:2])'
	@# A new lock gets a new environment: exactly the locked packages, nothing left over from the last one.
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements.lock
	$(PY) -m pip check --disable-pip-version-check
	@touch $(STAMP)

install: $(STAMP)

migrate: install
	$(PY) manage.py migrate --noinput

demo: migrate
	$(PY) manage.py seed_demo

run: demo
	$(PY) manage.py runstack --addr $(HOST):$(PORT)

test: install
	@$(PY) -c "from django.conf import settings; import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE','megahub.settings'); django.setup(); print('Test run on', settings.DB_VENDOR, '+', settings.BROKER_KIND, 'broker')"
	$(PY) -m pytest -n $(TEST_PROCESSES) $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .

bench: install
	$(PY) bench/run_all.py
