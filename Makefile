# cardreveal: `make run` for the demo, `make test` for every check. Needs only Python 3.11+.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
APP_PORT ?= 8000
SANDBOX_PORT ?= 8765
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test lint typecheck migrations-check pytest install sandbox clean serve bench

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

## run: install, migrate SQLite, load the demo, print the logins, start the sandbox and the app;
## the address to open comes last, once both listen (demo_open).
run: install
	$(PY) manage.py migrate --noinput -v0
	$(PY) manage.py load_demo --sandbox-url http://127.0.0.1:$(SANDBOX_PORT) --app-url http://127.0.0.1:$(APP_PORT)
	@$(PY) -m providers.sandbox --port $(SANDBOX_PORT) --state var/sandbox & \
	  SANDBOX_PID=$$!; \
	  $(PY) manage.py demo_open --app-url http://127.0.0.1:$(APP_PORT) --sandbox-url http://127.0.0.1:$(SANDBOX_PORT) & \
	  OPEN_PID=$$!; trap 'kill $$SANDBOX_PID $$OPEN_PID 2>/dev/null' EXIT INT TERM; \
	  $(PY) manage.py runserver 127.0.0.1:$(APP_PORT) --noreload

## sandbox: only the provider emulators, on $(SANDBOX_PORT).
sandbox: install
	$(PY) -m providers.sandbox --port $(SANDBOX_PORT) --state var/sandbox

## serve: production mode (docs/deploy.md). Needs DJANGO_SECRET_KEY, DJANGO_ALLOWED_HOSTS,
## DATABASE_URL, REDIS_URL and CARDREVEAL_FIELD_KEYS; collects static files, migrates, runs gunicorn.
## Static files are collected again only when static/ or the installed packages change.
STATIC_ROOT := $(abspath $(or $(DJANGO_STATIC_ROOT),var/staticfiles))

$(STATIC_ROOT)/staticfiles.json: $(VENV)/.installed $(shell find static -type f)
	DJANGO_SETTINGS_MODULE=cardreveal.settings.production DJANGO_STATIC_ROOT=$(STATIC_ROOT) \
	  $(PY) manage.py collectstatic --noinput -v0

serve: install $(STATIC_ROOT)/staticfiles.json
	DJANGO_SETTINGS_MODULE=cardreveal.settings.production $(PY) manage.py migrate --noinput -v0
	DJANGO_SETTINGS_MODULE=cardreveal.settings.production DJANGO_STATIC_ROOT=$(STATIC_ROOT) \
	  exec $(VENV)/bin/gunicorn -c gunicorn.conf.py

$(VENV)/.bench-installed: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[bench]'
	touch $@

## bench: gunicorn + PostgreSQL + Redis + sandbox with 50 ms latency, Locust headless; prints the table.
## BENCH_ARGS="--duration 60 --users 150 --write docs/benchmarks.md" for a longer run (docs/benchmarks.md).
## BENCH_ARGS="--background-cardholders 100000" (here or in bench-instructions): a bank's size in the tables.
bench: $(VENV)/.bench-installed
	$(PY) -m bench.run_bench $(BENCH_ARGS)

## bench-instructions: instructions per reveal, card list and receipt, in process and through
## gunicorn, counted by callgrind (the VM's speed does not move them; compare commits with it).
## BENCH_ARGS="--write docs/benchmarks.md" rewrites the results block.
.PHONY: bench-instructions
bench-instructions: $(VENV)/.bench-installed
	$(PY) -m bench.run_bench --instructions --users 40 --overload-users 0 $(BENCH_ARGS)

## bench-resilience: one provider dead, slow or dripping; do reveals through another keep their
## latency? Prints a table (docs/benchmarks.md). BENCH_RESILIENCE_ARGS="--duration 60" for longer.
.PHONY: bench-resilience
bench-resilience: install
	$(PY) bench/resilience.py $(BENCH_RESILIENCE_ARGS)

## test: lint, format, import layers, types, migrations, Django checks, and the whole suite
## (not the bench's own tests: `make test-bench`).
test: lint typecheck migrations-check pytest

## test-bench: the bench's own tests (bench/tests): the plan, the verdicts, the report, the floors.
## They need only the dev extra; PYTEST_ARGS as for `make pytest`.
.PHONY: test-bench
test-bench: install
	$(VENV)/bin/pytest bench/tests $(PYTEST_ARGS)

## drill: the multi-host drill (drill/run.py), as root: app hosts in network namespaces behind
## HAProxy (installed with apt-get when missing) on the machine's PostgreSQL, one fault at a time
## under load, the nothing-lost checks and the restore drill; writes docs/reliability.md.
## DRILL_ARGS="--short" for the CI version, "--real-pg-restart" to restart the machine's PostgreSQL.
.PHONY: drill test-drill
drill: install
	@command -v haproxy >/dev/null || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q haproxy)
	$(PY) -m drill.run --write docs/reliability.md $(DRILL_ARGS)

## test-drill: the drill's own tests (drill/tests), the restore drill's on the machine's PostgreSQL.
test-drill: install
	DRILL_POSTGRES_URL=$${DRILL_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres} \
	  $(VENV)/bin/pytest drill/tests $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache --no-logo

typecheck: install
	$(VENV)/bin/mypy cardreveal providers

migrations-check: install
	DJANGO_SETTINGS_MODULE=cardreveal.settings.test $(PY) manage.py makemigrations --check --dry-run
	DJANGO_SETTINGS_MODULE=cardreveal.settings.test $(PY) manage.py check

pytest: install
	$(VENV)/bin/pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache

## bench-import: provisions N cardholders with two cards each through the provisioning API and the
## admin's file import, on fresh PostgreSQL databases, at N/4 and N; prints time and peak memory
## (docs/benchmarks.md). BENCH_IMPORT_ARGS="--cardholders 100000" is the full size (the default).
.PHONY: bench-import
bench-import: install
	$(PY) -m bench.import_bench $(BENCH_IMPORT_ARGS)
