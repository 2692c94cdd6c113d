# cardreveal: `make run` for the demo, `make test` for every check. Needs only Python 3.11+.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
APP_PORT ?= 8000
SANDBOX_PORT ?= 8765
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test lint typecheck migrations-check pytest install sandbox clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

## run: install, migrate SQLite, load the demo, start the sandbox and the app, print the logins.
run: install
	$(PY) manage.py migrate --noinput -v0
	$(PY) manage.py load_demo --sandbox-url http://127.0.0.1:$(SANDBOX_PORT) --app-url http://127.0.0.1:$(APP_PORT)
	@$(PY) -m providers.sandbox --port $(SANDBOX_PORT) --state var/sandbox & \
	  SANDBOX_PID=$$!; trap 'kill $$SANDBOX_PID 2>/dev/null' EXIT INT TERM; \
	  $(PY) manage.py runserver 127.0.0.1:$(APP_PORT) --noreload

## sandbox: only the provider emulators, on $(SANDBOX_PORT).
sandbox: install
	$(PY) -m providers.sandbox --port $(SANDBOX_PORT) --state var/sandbox

## test: lint, format, types, migrations, Django checks, and the whole suite.
test: lint typecheck migrations-check pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy cardreveal providers

migrations-check: install
	DJANGO_SETTINGS_MODULE=cardreveal.settings.test $(PY) manage.py makemigrations --check --dry-run
	DJANGO_SETTINGS_MODULE=cardreveal.settings.test $(PY) manage.py check

pytest: install
	$(VENV)/bin/pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
