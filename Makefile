# Two commands: `make run` starts the product, `make test` checks it. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PACKAGES := activities api cli clinical core demo intake migrations models notifications outbound registry reports scheduler workflows

.PHONY: run test lint pytest chaos clean

# The first run takes minutes: each step says what it is doing, and pip what it installs.
$(STAMP): pyproject.toml constraints.txt package-lock.json frontend/copy-nhsuk.mjs
	@# Debian's chromium drives the browser tests (never a downloaded browser build).
	@echo "[1/4] Checking for Debian's chromium (browser tests) ..."
	command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }
	@# Debian's docker-compose validates docker-compose.yml (tests/test_compose.py); no daemon needed.
	command -v docker-compose >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose; }
	@# The pages' NHS.UK design system: nhsuk-frontend at the version package-lock.json pins;
	@# its postinstall (frontend/copy-nhsuk.mjs) copies the built CSS and icons to api/static/nhsuk.
	@echo "[2/4] Installing nhsuk-frontend (npm ci) into api/static/nhsuk ..."
	command -v npm >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm; }
	npm ci --no-audit --no-fund
	@echo "[3/4] Creating $(VENV) ..."
	$(PYTHON) -m venv $(VENV)
	@echo "[4/4] Installing the pinned packages into $(VENV) (first run: a few minutes) ..."
	$(BIN)/python -m pip install --progress-bar on -c constraints.txt -e '.[dev]'
	@# Bytecode now, not at each first import: a worker's start (and each test server's
	@# worker) would otherwise compile the project and its dependencies on a busy machine.
	$(BIN)/python -m compileall -q -j 0 $(PACKAGES) worker.py $$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') >/dev/null
	touch $(STAMP)
	@echo "Set up. Starting ..."

run: $(STAMP)
	$(BIN)/sirt dev

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The suite runs at a pinned instant (tests/pinned.py, a Wednesday unless SIRT_TEST_NOW says
# otherwise), then every date-sensitive test runs again on a Saturday: a test that only passes
# on working days fails here, whatever day it is.
pytest: $(STAMP)
	$(BIN)/pytest
	SIRT_TEST_NOW=saturday $(BIN)/pytest -m date_sensitive

test: lint pytest

# The full chaos run (tests/chaos): 24 pathways under 21 kills and a 20 s read-model cut, with
# its figures printed. `make test` runs the reduced profile of the same test.
chaos: $(STAMP)
	rm -rf .data/chaos
	SIRT_CHAOS=full SIRT_CHAOS_LOGS=$(CURDIR)/.data/chaos $(BIN)/pytest -s -q tests/chaos

clean:
	rm -rf $(VENV) build *.egg-info node_modules api/static/nhsuk
