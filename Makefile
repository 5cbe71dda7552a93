# Two commands after cloning: `make run` (the main job on generated sample data, then the HTML report of
# the latest month) and `make test`.
# Both create the virtual environment in .venv/ from requirements.lock on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
STAMP := $(VENV)/.installed
KPI := $(BIN)/kpi

# A .env file (see .env.example) configures the pipeline; the environment wins over it.
ifneq (,$(wildcard .env))
include .env
export $(shell sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' .env)
endif

# Offline by default: no usage statistics from dbt, Dagster or Great Expectations.
export DBT_SEND_ANONYMOUS_USAGE_STATS := False
export DAGSTER_DISABLE_TELEMETRY := 1
export GX_ANALYTICS_ENABLED := False
export DO_NOT_TRACK := 1

.PHONY: architecture run test test-fast test-spark install system-packages lint lint-sql dev lock lock-bootstrap clean sample-data bench

run: $(STAMP)
	@# Sample data only for the default landing folder: a user's own folder is never written to.
	@if [ -z "$$KPI_LANDING_DIR" ]; then $(KPI) sample-data --skip-if-present; fi
	$(KPI) run
	@# The HTML scorecard report of the latest published month; its path is the last line printed.
	@echo "Scorecard report:" && $(KPI) report

# Both cores (pytest-xdist); a test file's tests stay in one worker, so they share its fixtures.
TEST_WORKERS ?= 2
test: $(STAMP) system-packages
	$(BIN)/ruff check .
	$(PYTHON) scripts/check_architecture.py
	$(MAKE) --no-print-directory lint-sql
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

# The fast lane: unit tests, definition loading and dbt unit tests, no pipeline run (under two minutes).
test-fast: $(STAMP)
	$(BIN)/ruff check .
	$(PYTHON) scripts/check_architecture.py
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile -m "not e2e and not spark"

# OS packages the tests need and pip cannot install: Chromium renders the HTML report in the browser
# tests. Installed with apt-get when missing and we are root; otherwise the command says what to install.
SYSTEM_PACKAGES := chromium chromium-driver
system-packages:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing $(SYSTEM_PACKAGES) (apt-get)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(SYSTEM_PACKAGES) >/dev/null \
	      || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(SYSTEM_PACKAGES) >/dev/null; }; \
	  else \
	    echo "make test needs the OS packages $(SYSTEM_PACKAGES) (/usr/bin/chromium): install them, e.g. sudo apt-get install $(SYSTEM_PACKAGES)" >&2; exit 2; \
	  fi; \
	fi

# Only the Spark end-to-end test (KPI_ENGINE=spark on a local session; needs Java 17+). `make test`
# runs it too.
test-spark: $(STAMP)
	$(BIN)/pytest -m spark

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock requirements-bootstrap.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-bootstrap.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --require-hashes -r requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	$(BIN)/uv pip check --python $(BIN)/python
	@touch $(STAMP)

lint: $(STAMP) lint-sql
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(PYTHON) scripts/check_architecture.py

# The dbt models through sqlfluff's dbt templater (.sqlfluff, .sqlfluffignore; about 40 s, so `make test`
# runs it too). dbt compiles the project against an empty DuckDB file in a temporary folder, with its
# target and logs there too: offline, no built warehouse needed, nothing written into dbt_project/.
# Macros are not linted on their own (the templater skips them); the SQL they write is checked where
# a model calls them.
lint-sql: $(STAMP)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  KPI_DATA_DIR="$$tmp" DBT_TARGET_PATH="$$tmp/target" DBT_LOG_PATH="$$tmp/logs" \
	  $(BIN)/sqlfluff lint dbt_project/models

# The package's layout rules (docs/architecture.md): no import cycle, defs/resources.py a leaf,
# environment read in settings.py only, long modules say why. Lists what still breaks them.
architecture:
	$(PYTHON) scripts/check_architecture.py

dev: $(STAMP)
	$(KPI) dev

sample-data: $(STAMP)
	$(KPI) sample-data

# The benchmark (bench/README.md): pipeline vs a hand-written DuckDB script at S, M and L sales lines.
# `make bench SIZES=S,M` for a quick run; results in bench/results.md and bench/results/*.json.
SIZES ?= S,M,L
bench: $(STAMP)
	$(BIN)/python bench/run.py --sizes $(SIZES)

# Re-resolve the pinned dependency tree after editing pyproject.toml; every pin carries its hashes and
# `make install` installs with --require-hashes, so a tampered or substituted package fails the install.
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra spark --python-version 3.11 --universal --generate-hashes -o requirements.lock

# The installer itself, pinned with hashes for every platform.
lock-bootstrap: $(STAMP)
	@echo "# The installer that installs requirements.lock, pinned with hashes (make lock-bootstrap re-resolves it)." > requirements-bootstrap.lock
	echo "uv==$(UV_VERSION)" | $(BIN)/uv pip compile - --universal --generate-hashes --python-version 3.11 --no-header >> requirements-bootstrap.lock

clean:
	rm -rf $(VENV) data
