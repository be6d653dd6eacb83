# Plugboard: `make run` starts the product with demo data, `make test` runs the suite.
# Both create .venv and install what they need from pyproject.toml, pinned by
# requirements/constraints.txt.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
SIMULATE ?= 3
PIP_INSTALL := $(PY) -m pip install --quiet --disable-pip-version-check

.PHONY: run test install install-dev browser lint format migrate seed lock release worker beat serve clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml requirements/constraints.txt | $(PY)
	$(PIP_INSTALL) -c requirements/constraints.txt -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml requirements/constraints.txt | $(PY)
	$(PIP_INSTALL) -c requirements/constraints.txt -e ".[dev]"
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# The browser tests drive Debian's chromium through Playwright (no browser download).
# Installed here when missing; where apt-get is unavailable the browser tests skip
# with that reason, except under CI, where they fail instead.
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v $(CHROMIUM) >/dev/null || { \
		echo "Installing Debian's chromium for the browser tests."; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium \
		|| echo "make: could not install chromium: the browser tests will say so."; }

## run: embedded mode (SQLite, in-memory channel layer, no broker) with demo data:
## daphne plus the periodic jobs in one process, and SIMULATE simulated demo chargers
## (make run SIMULATE=0 for none)
run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo --base-url http://$(HOST):$(PORT)
	@echo "Starting Plugboard on http://$(HOST):$(PORT)/admin/ (chargers: ws://$(HOST):$(PORT)/ocpp/<id>). Ctrl-C stops it."
	$(PY) manage.py run_embedded --host $(HOST) --port $(PORT) --simulate $(SIMULATE)

migrate: install
	$(PY) manage.py migrate --noinput
seed: install
	$(PY) manage.py seed_demo --base-url http://$(HOST):$(PORT)

## test: the whole suite (SQLite unless DATABASE_URL is set; Redis tests need REDIS_URL)
test: install-dev browser
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run --settings=config.settings.test
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## production processes (set DATABASE_URL, REDIS_URL, SECRET_KEY, ALLOWED_HOSTS;
## DJANGO_SETTINGS_MODULE defaults to config.settings.production for these targets)
release serve worker beat: export DJANGO_SETTINGS_MODULE ?= config.settings.production
## release: apply migrations and collect static files before starting a new version
release: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput
serve: install
	$(PY) -m config.asgi_server -b $(HOST) -p $(PORT) --websocket_timeout -1 --websocket_connect_timeout 30 --ping-interval 60 --proxy-headers config.asgi:application
worker: install
	$(VENV)/bin/celery -A config worker --loglevel=INFO
beat: install
	$(VENV)/bin/celery -A config beat --loglevel=INFO

## lock: refresh the pinned versions after changing pyproject.toml
lock: $(PY)
	$(PIP_INSTALL) -e ".[dev]"
	$(PY) -m pip freeze --exclude-editable --exclude plugboard > requirements/constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache staticfiles
